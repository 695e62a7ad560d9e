"""partner API keys bound to one partner of their program: api_keys.partner_id, and a CHECK
that a live partner key has a partner and a processor key none

A partner key now acts for one partner only (it sees and manages that partner's perks,
codes, vouchers and stats). Partner keys minted before could only be bound by guessing which
partner their holder is, so they are revoked here rather than left live and unbound: the
database itself then guarantees that no live partner key lacks a partner (the CHECK allows an
unbound partner key only once revoked), instead of relying on every code path to refuse one.
Each revocation is written to the audit log (actor `migration:0017`, `after.reason`); an
admin mints the partner a new key naming its code. A revoked key's holder gets 401 as for
any revoked key.

The foreign key sets `partner_id` to NULL when a partner is deleted: its revoked keys stop
blocking the delete, while a live key makes the CHECK refuse it.

Downgrading drops the column and the CHECK; the keys revoked here stay revoked (un-revoking
them would hand a partner's access back to keys that were never bound to it).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 09:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

PARTNER_BOUND = (
    "(role = 'partner' AND (partner_id IS NOT NULL OR revoked_at IS NOT NULL)) "
    "OR (role <> 'partner' AND partner_id IS NULL)"
)
UNBOUND_LIVE = "role = 'partner' AND partner_id IS NULL AND revoked_at IS NULL"
REASON = "partner keys must name their partner (migration 0017); mint a new key"


def upgrade():
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        # api_keys is read on every keyed request: give up rather than queue them behind us.
        op.execute("SET LOCAL lock_timeout = '10s'")
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_keys_partner_id'), ['partner_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_partner_id_partners'), 'partners', ['partner_id'], ['id'], ondelete='SET NULL')

    # Audited first, while the rows still read as live.
    json = "CAST({} AS jsonb)" if postgres else "{}"
    op.execute(
        sa.text(
            "INSERT INTO audit_log (program_id, actor, actor_role, action, object_type, "
            "object_id, before, after) SELECT program_id, 'migration:0017', 'admin', "
            "'api_key.revoke', 'api_key', CAST(id AS VARCHAR(128)), "
            f"{json.format(':before')}, {json.format(':after')} "
            f"FROM api_keys WHERE {UNBOUND_LIVE} ORDER BY id"
        ).bindparams(
            before='{"revoked": false}',
            after='{"revoked": true, "reason": "%s"}' % REASON,
        )
    )
    op.execute(f"UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE {UNBOUND_LIVE}")

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_api_keys_partner_bound'), PARTNER_BOUND)


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_api_keys_partner_bound'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_api_keys_partner_id_partners'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_keys_partner_id'))
        batch_op.drop_column('partner_id')
