"""participation as one row per customer (customer_campaigns) instead of campaign_participants

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 12:05:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Stop the workers while upgrading: a chunk running on the old code would still insert into
# campaign_participants after its rows were copied.
COPY = {
    'postgresql': (
        'INSERT INTO customer_campaigns (customer_id, campaign_ids) '
        'SELECT customer_id, jsonb_agg(campaign_id ORDER BY campaign_id) '
        'FROM campaign_participants GROUP BY customer_id'
    ),
    'sqlite': (
        'INSERT INTO customer_campaigns (customer_id, campaign_ids) '
        'SELECT customer_id, json_group_array(campaign_id) '
        'FROM (SELECT customer_id, campaign_id FROM campaign_participants '
        'ORDER BY customer_id, campaign_id) GROUP BY customer_id'
    ),
}
EXPAND = {
    'postgresql': (
        'INSERT INTO campaign_participants (campaign_id, customer_id) '
        'SELECT DISTINCT CAST(e.value AS bigint), c.customer_id FROM customer_campaigns c '
        'CROSS JOIN LATERAL jsonb_array_elements_text(c.campaign_ids) AS e(value)'
    ),
    'sqlite': (
        'INSERT INTO campaign_participants (campaign_id, customer_id) '
        'SELECT DISTINCT CAST(e.value AS INTEGER), c.customer_id FROM customer_campaigns c, '
        'json_each(c.campaign_ids) AS e'
    ),
}


def upgrade():
    op.create_table('customer_campaigns',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_campaigns'))
    )
    op.execute(COPY[op.get_bind().dialect.name])
    op.drop_table('campaign_participants')


def downgrade():
    op.create_table('campaign_participants',
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'customer_id', name=op.f('pk_campaign_participants'))
    )
    op.execute(EXPAND[op.get_bind().dialect.name])
    op.drop_table('customer_campaigns')
