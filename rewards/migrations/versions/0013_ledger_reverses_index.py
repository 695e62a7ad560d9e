"""ledger entries indexed by the lot they reverse: a refund sums what earlier clawbacks took
from its purchase's lots, which read the whole ledger without it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:40:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

WHERE = sa.text('reverses_entry_id IS NOT NULL')


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # Built without blocking the feed's writes on a large ledger.
        with op.get_context().autocommit_block():
            op.create_index('ix_ledger_entries_reverses', 'ledger_entries', ['reverses_entry_id'],
                            unique=False, postgresql_where=WHERE, postgresql_concurrently=True,
                            if_not_exists=True)
    else:
        op.create_index('ix_ledger_entries_reverses', 'ledger_entries', ['reverses_entry_id'],
                        unique=False, sqlite_where=WHERE)


def downgrade():
    op.drop_index('ix_ledger_entries_reverses', table_name='ledger_entries')
