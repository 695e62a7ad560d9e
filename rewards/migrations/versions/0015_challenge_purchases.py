"""One row per purchase counted towards challenges instead of one per (purchase, challenge)

`challenge_contributions` (key: transaction, challenge) becomes `challenge_purchases` (key:
transaction), whose `counted` maps each challenge the purchase counted towards to its period
(`{"7": "w:2026-W48"}`); the purchase's facts and its refunded amount are stored once. With
a program's program-wide challenges every purchase met about twenty of them, and the row
each was the feed's largest write.

Each way, the copy runs in one transaction holding the table it empties locked (ACCESS
EXCLUSIVE, taken first, giving up after 10 s behind a running chunk): a worker on the other
code waits, then fails its chunk on the dropped table, and the chunk runs again on the code
that matches the schema. Nothing is written to the old table after its rows were copied.
Downgrading expands the rows back; a purchase's refunded amount (one per purchase now) goes
to each of its rows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:20:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
FACTS = ('local_day', 'amount_minor', 'refunded_minor', 'merchant_id', 'category', 'created_at')


def _facts():
    return [
        sa.Column('local_day', sa.Date(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('refunded_minor', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('merchant_id', sa.String(length=64), nullable=True),
        sa.Column('category', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    ]


def _checks(table):
    return [
        sa.CheckConstraint('amount_minor > 0', name=op.f(f'ck_{table}_amount_positive')),
        sa.CheckConstraint('refunded_minor >= 0 AND refunded_minor <= amount_minor',
                           name=op.f(f'ck_{table}_refund_range')),
    ]


def upgrade():
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        op.execute("SET LOCAL lock_timeout = '10s'")
        op.execute('LOCK TABLE challenge_contributions IN ACCESS EXCLUSIVE MODE')
    op.create_table(
        'challenge_purchases',
        sa.Column('transaction_id', ID, nullable=False),
        sa.Column('customer_id', ID, nullable=False),
        sa.Column('counted', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                    'postgresql'), nullable=False),
        *_facts(),
        *_checks('challenge_purchases'),
        sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_challenge_purchases')),
    )
    # A purchase's facts are the same in each of its rows; its refunded amount is the largest
    # (rows written when a purchase replayed after a refund counted anew started at 0).
    agg = ("jsonb_object_agg(challenge_id::text, period)" if postgres
           else "json_group_object(CAST(challenge_id AS TEXT), period)")
    facts = ', '.join(f'max({f})' if f == 'refunded_minor' else f'min({f})' for f in FACTS)
    op.execute(
        f"INSERT INTO challenge_purchases (transaction_id, customer_id, counted, "
        f"{', '.join(FACTS)}) SELECT transaction_id, min(customer_id), {agg}, {facts} "
        f"FROM challenge_contributions GROUP BY transaction_id"
    )
    op.create_index(op.f('ix_challenge_purchases_customer_id'), 'challenge_purchases',
                    ['customer_id'], unique=False)
    op.drop_table('challenge_contributions')


def downgrade():
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        op.execute("SET LOCAL lock_timeout = '10s'")
        op.execute('LOCK TABLE challenge_purchases IN ACCESS EXCLUSIVE MODE')
    op.create_table(
        'challenge_contributions',
        sa.Column('transaction_id', ID, nullable=False),
        sa.Column('challenge_id', ID, nullable=False),
        sa.Column('customer_id', ID, nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        *_facts(),
        *_checks('challenge_contributions'),
        sa.PrimaryKeyConstraint('transaction_id', 'challenge_id',
                                name=op.f('pk_challenge_contributions')),
    )
    each = "jsonb_each_text(p.counted)" if postgres else "json_each(p.counted)"
    challenge = "CAST(e.key AS bigint)" if postgres else "CAST(e.key AS INTEGER)"
    op.execute(
        f"INSERT INTO challenge_contributions (transaction_id, challenge_id, customer_id, "
        f"period, {', '.join(FACTS)}) SELECT p.transaction_id, {challenge}, p.customer_id, "
        f"e.value, {', '.join('p.' + f for f in FACTS)} FROM challenge_purchases AS p, {each} AS e"
    )
    op.create_index('ix_challenge_contributions_progress', 'challenge_contributions',
                    ['customer_id', 'challenge_id', 'period'], unique=False)
    op.drop_table('challenge_purchases')
