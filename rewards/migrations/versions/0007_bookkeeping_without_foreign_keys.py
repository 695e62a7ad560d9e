"""campaign counters and participants without foreign keys (feed bookkeeping, checked by code)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

KEYS = (
    ('campaign_counters', 'fk_campaign_counters_campaign_id_campaigns', 'campaign_id', 'campaigns'),
    ('campaign_counters', 'fk_campaign_counters_customer_id_customers', 'customer_id', 'customers'),
    ('campaign_participants', 'fk_campaign_participants_campaign_id_campaigns', 'campaign_id', 'campaigns'),
    ('campaign_participants', 'fk_campaign_participants_customer_id_customers', 'customer_id', 'customers'),
)


def upgrade():
    # SQLite (embedded mode) does not enforce these keys; its tables stay as they are.
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, name, _, _ in KEYS:
        op.drop_constraint(name, table, type_='foreignkey')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, name, column, target in KEYS:
        op.create_foreign_key(name, table, target, [column], ['id'])
