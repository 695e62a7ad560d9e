"""programs.point_value_per_1000 (what a program pays its partners per 1,000 points redeemed
on their perks, in minor units of its currency; NULL until agreed), and ledger entries
indexed by the redemption they belong to (partner settlement and the perk reconciliation
join each redemption to its `redeem` and `redemption_refund` entries)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 09:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

WHERE = sa.text("source_type = 'redemption'")


def upgrade():
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        # Every keyed request reads programs: give up rather than queue them behind us.
        op.execute("SET LOCAL lock_timeout = '10s'")
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('point_value_per_1000', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(batch_op.f('ck_programs_point_value_not_negative'),
                                         'point_value_per_1000 >= 0')

    if postgres:
        # Built without blocking the feed's writes on a large ledger.
        with op.get_context().autocommit_block():
            op.create_index('ix_ledger_entries_redemption', 'ledger_entries', ['source_id'],
                            unique=False, postgresql_where=WHERE, postgresql_concurrently=True,
                            if_not_exists=True)
    else:
        op.create_index('ix_ledger_entries_redemption', 'ledger_entries', ['source_id'],
                        unique=False, sqlite_where=WHERE)


def downgrade():
    op.drop_index('ix_ledger_entries_redemption', table_name='ledger_entries')
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_programs_point_value_not_negative'), type_='check')
        batch_op.drop_column('point_value_per_1000')
