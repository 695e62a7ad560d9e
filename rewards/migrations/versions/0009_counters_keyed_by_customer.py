"""campaign counters keyed (customer, bucket, campaign): the feed reads a chunk's customers'
counters of the current periods by index instead of scanning every counter kept

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 12:50:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _key(columns):
    with op.batch_alter_table('campaign_counters', schema=None) as batch_op:
        batch_op.drop_constraint('pk_campaign_counters', type_='primary')
        batch_op.create_primary_key('pk_campaign_counters', columns)


def upgrade():
    _key(['customer_id', 'bucket', 'campaign_id'])


def downgrade():
    _key(['campaign_id', 'customer_id', 'bucket'])
