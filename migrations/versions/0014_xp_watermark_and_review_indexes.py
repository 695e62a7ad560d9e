"""XP points kept per customer up to a ledger entry (a chunk sums only newer entries),
indexes for the XP and tier reads that scanned a customer's or the whole table's history,
and the "halfway there" moment of challenge progress

- customers.xp_points / xp_points_upto: backfilled from the ledger as it stands;
- ix_challenge_progress_completed: a customer's completed periods;
- ix_customers_tier_review_on: customers whose tier review date has come;
- challenge_progress.halfway_at, and room on its pages for updates in place (fillfactor).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:10:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

COMPLETED = sa.text("status = 'completed'")
REVIEWED = sa.text('tier_review_on IS NOT NULL')
# What XP counts as points: activity lots and the clawbacks taken from a lot
# (campaigns.levels.facts); the watermark is the account's newest entry of any kind.
BACKFILL = sa.text(
    "UPDATE customers AS c SET xp_points = s.points, xp_points_upto = s.upto "
    "FROM (SELECT a.customer_id, "
    "COALESCE(SUM(CASE WHEN e.kind IN ('earn', 'bonus', 'challenge_reward') "
    "OR (e.kind = 'clawback' AND e.reverses_entry_id IS NOT NULL) THEN e.points END), 0) "
    "AS points, MAX(e.id) AS upto "
    "FROM accounts AS a JOIN ledger_entries AS e ON e.account_id = a.id "
    "GROUP BY a.customer_id) AS s WHERE c.id = s.customer_id"
)


def upgrade():
    with op.batch_alter_table('customers') as batch_op:
        batch_op.add_column(sa.Column('xp_points', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('xp_points_upto', sa.BigInteger(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('challenge_progress') as batch_op:
        batch_op.add_column(sa.Column('halfway_at', sa.DateTime(timezone=True), nullable=True))
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        # Workers of the previous release may be writing lots: wait for those in flight and
        # hold new ones until this commits, so no entry below a watermark is left out.
        op.execute('LOCK TABLE ledger_entries IN SHARE MODE')
    op.execute(BACKFILL)
    if postgres:
        # Progress rows are updated by most purchases: room on each page lets the update stay
        # on the page without touching the table's indexes (a HOT update).
        op.execute('ALTER TABLE challenge_progress SET (fillfactor = 70)')
    indexes = (
        ('ix_challenge_progress_completed', 'challenge_progress', ['customer_id'], COMPLETED),
        ('ix_customers_tier_review_on', 'customers', ['tier_review_on'], REVIEWED),
    )
    for name, table, columns, where in indexes:
        if postgres:
            # Built without blocking the feed's writes on large tables.
            with op.get_context().autocommit_block():
                op.create_index(name, table, columns, unique=False, postgresql_where=where,
                                postgresql_concurrently=True, if_not_exists=True)
        else:
            op.create_index(name, table, columns, unique=False, sqlite_where=where)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE challenge_progress RESET (fillfactor)')
    op.drop_index('ix_customers_tier_review_on', table_name='customers')
    op.drop_index('ix_challenge_progress_completed', table_name='challenge_progress')
    with op.batch_alter_table('challenge_progress') as batch_op:
        batch_op.drop_column('halfway_at')
    with op.batch_alter_table('customers') as batch_op:
        batch_op.drop_column('xp_points_upto')
        batch_op.drop_column('xp_points')
