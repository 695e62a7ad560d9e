"""perk ranking: customer_features (each cardholder's purchases and spend per category and
partner, per category and part of the day, kept by the feed) and perk_popularity
(redemptions of the last 90 days per perk and cohort: all, an age band, an age band and
top category; kept by a scheduled job)

Both start empty: the feed fills a cardholder's row with their next purchase, and until
then the catalog ranks by popularity (the cold start). Nothing is backfilled from the
history, which a large ledger would make a long migration.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 18:10:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('customer_features',
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('purchases', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('categories', JSON, nullable=False),
    sa.Column('partners', JSON, nullable=False),
    sa.Column('dayparts', JSON, nullable=False),
    sa.Column('last_purchase_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('partner_last_at', JSON, nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_features_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_features'))
    )
    op.create_table('perk_popularity',
    sa.Column('perk_id', ID, nullable=False),
    sa.Column('cohort', sa.String(length=48), nullable=False),
    sa.Column('redemptions', sa.BigInteger(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['perk_id'], ['perks.id'], name=op.f('fk_perk_popularity_perk_id_perks')),
    sa.PrimaryKeyConstraint('perk_id', 'cohort', name=op.f('pk_perk_popularity'))
    )


def downgrade():
    op.drop_table('perk_popularity')
    op.drop_table('customer_features')
