"""XP points kept per customer up to a ledger entry (a chunk sums only newer entries),
indexes for the XP and tier reads that scanned a customer's or the whole table's history,
and the "halfway there" moment of challenge progress

- customers.xp_points / xp_points_upto, backfilled from the ledger;
- challenge_progress.halfway_at, and room on its new pages for updates in place (fillfactor);
- ix_challenge_progress_completed: a customer's completed periods;
- ix_customers_tier_review_on: customers whose tier review date has come.

On PostgreSQL nothing holds a table for long, and a run that failed part-way can be run
again: the columns are added in a short transaction (giving up after 10 s if the tables are
busy), the backfill runs in batches of customers, each under their accounts' row locks (as a
feed chunk takes them, in id order: no lot is written for those customers meanwhile, so no
entry can land below the watermark), and the indexes are built concurrently (an invalid one
left by an interrupted build is dropped first).

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
INDEXES = (
    ('ix_challenge_progress_completed', 'challenge_progress', ['customer_id'], COMPLETED),
    ('ix_customers_tier_review_on', 'customers', ['tier_review_on'], REVIEWED),
)
BATCH = 5000
# What XP counts as points: activity lots and the clawbacks taken from a lot
# (campaigns.levels.facts); the watermark is the account's newest entry of any kind.
BACKFILL = (
    "UPDATE customers AS c SET xp_points = s.points, xp_points_upto = s.upto "
    "FROM (SELECT a.customer_id, "
    "COALESCE(SUM(CASE WHEN e.kind IN ('earn', 'bonus', 'challenge_reward') "
    "OR (e.kind = 'clawback' AND e.reverses_entry_id IS NOT NULL) THEN e.points END), 0) "
    "AS points, MAX(e.id) AS upto "
    "FROM accounts AS a JOIN ledger_entries AS e ON e.account_id = a.id "
    "WHERE {where} GROUP BY a.customer_id) AS s WHERE c.id = s.customer_id"
)


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        _upgrade_sqlite()
        return
    op.execute("SET LOCAL lock_timeout = '10s'")
    for table, column in (
        ('customers', 'xp_points bigint NOT NULL DEFAULT 0'),
        ('customers', 'xp_points_upto bigint NOT NULL DEFAULT 0'),
        ('challenge_progress', 'halfway_at timestamp with time zone'),
    ):
        op.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}')
    op.execute('ALTER TABLE challenge_progress SET (fillfactor = 70)')
    with op.get_context().autocommit_block():  # commits the columns first
        bind = op.get_bind()
        top = bind.execute(sa.text('SELECT COALESCE(MAX(id), 0) FROM customers')).scalar()
        for low in range(0, top + 1, BATCH):
            bounds = {'low': low, 'high': low + BATCH}
            bind.execute(sa.text('BEGIN'))
            bind.execute(
                sa.text(
                    'SELECT id FROM accounts WHERE customer_id >= :low AND customer_id < :high '
                    'ORDER BY id FOR UPDATE'
                ),
                bounds,
            )
            where = 'a.customer_id >= :low AND a.customer_id < :high'
            bind.execute(sa.text(BACKFILL.format(where=where)), bounds)
            bind.execute(sa.text('COMMIT'))
        for name, table, columns, where in INDEXES:
            valid = bind.execute(
                sa.text(
                    'SELECT i.indisvalid FROM pg_index AS i JOIN pg_class AS c '
                    'ON c.oid = i.indexrelid WHERE c.relname = :name'
                ),
                {'name': name},
            ).scalar()
            if valid is False:  # left by an interrupted concurrent build
                op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {name}')
            op.create_index(name, table, columns, unique=False, postgresql_where=where,
                            postgresql_concurrently=True, if_not_exists=True)


def _upgrade_sqlite():
    with op.batch_alter_table('customers') as batch_op:
        batch_op.add_column(sa.Column('xp_points', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('xp_points_upto', sa.BigInteger(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('challenge_progress') as batch_op:
        batch_op.add_column(sa.Column('halfway_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL.format(where='1 = 1'))
    for name, table, columns, where in INDEXES:
        op.create_index(name, table, columns, unique=False, sqlite_where=where)


def downgrade():
    op.drop_index('ix_customers_tier_review_on', table_name='customers')
    op.drop_index('ix_challenge_progress_completed', table_name='challenge_progress')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE challenge_progress RESET (fillfactor)')
    with op.batch_alter_table('challenge_progress') as batch_op:
        batch_op.drop_column('halfway_at')
    with op.batch_alter_table('customers') as batch_op:
        batch_op.drop_column('xp_points_upto')
        batch_op.drop_column('xp_points')
