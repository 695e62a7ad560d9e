"""perks: a program's perks and their versions (price, stock, limits, window), the
redemptions that spent points on them, partners' uploaded voucher codes and the vouchers
issued (codes sealed and hashed, never in clear)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 18:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('perks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cost_points', sa.BigInteger(), nullable=False),
    sa.Column('stock_total', sa.BigInteger(), nullable=True),
    sa.Column('stock_used', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'active', 'paused', 'ended')", name=op.f('ck_perks_status_known')),
    sa.CheckConstraint('cost_points > 0', name=op.f('ck_perks_cost_positive')),
    sa.CheckConstraint('current_version >= 1', name=op.f('ck_perks_version_positive')),
    sa.CheckConstraint('ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_perks_window_ordered')),
    sa.CheckConstraint('stock_total IS NULL OR stock_used <= stock_total', name=op.f('ck_perks_stock_not_oversold')),
    sa.CheckConstraint('stock_used >= 0', name=op.f('ck_perks_stock_used_not_negative')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_perks_partner_id_partners')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_perks_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_perks'))
    )
    with op.batch_alter_table('perks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_perks_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index('ix_perks_program_id_status', ['program_id', 'status'], unique=False)

    op.create_table('perk_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint('version >= 1', name=op.f('ck_perk_versions_version_positive')),
    sa.ForeignKeyConstraint(['perk_id'], ['perks.id'], name=op.f('fk_perk_versions_perk_id_perks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_perk_versions')),
    sa.UniqueConstraint('perk_id', 'version', name=op.f('uq_perk_versions_perk_id_version'))
    )
    op.create_table('redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_version', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('spent_lots', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('completed', 'cancelled')", name=op.f('ck_redemptions_status_known')),
    sa.CheckConstraint('points > 0', name=op.f('ck_redemptions_points_positive')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_redemptions_customer_id_customers')),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entries.id'], name=op.f('fk_redemptions_ledger_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['perk_id'], ['perks.id'], name=op.f('fk_redemptions_perk_id_perks')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_redemptions_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_customer_perk', ['customer_id', 'perk_id', 'created_at'], unique=False)
        batch_op.create_index('ix_redemptions_perk_id', ['perk_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemptions_program_id'), ['program_id'], unique=False)

    op.create_table('voucher_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('code_sealed', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('available', 'issued')", name=op.f('ck_voucher_codes_status_known')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_voucher_codes_partner_id_partners')),
    sa.ForeignKeyConstraint(['perk_id'], ['perks.id'], name=op.f('fk_voucher_codes_perk_id_perks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_codes')),
    sa.UniqueConstraint('partner_id', 'code_hash', name=op.f('uq_voucher_codes_partner_id_code_hash'))
    )
    with op.batch_alter_table('voucher_codes', schema=None) as batch_op:
        batch_op.create_index('ix_voucher_codes_available', ['perk_id', 'id'], unique=False, postgresql_where=sa.text("status = 'available'"), sqlite_where=sa.text("status = 'available'"))

    op.create_table('vouchers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('perk_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('redemption_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('code_sealed', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("source IN ('generated', 'uploaded')", name=op.f('ck_vouchers_source_known')),
    sa.CheckConstraint("status IN ('issued', 'used', 'expired', 'cancelled')", name=op.f('ck_vouchers_status_known')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_vouchers_customer_id_customers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_vouchers_partner_id_partners')),
    sa.ForeignKeyConstraint(['perk_id'], ['perks.id'], name=op.f('fk_vouchers_perk_id_perks')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_vouchers_program_id_programs')),
    sa.ForeignKeyConstraint(['redemption_id'], ['redemptions.id'], name=op.f('fk_vouchers_redemption_id_redemptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
    sa.UniqueConstraint('partner_id', 'code_hash', name=op.f('uq_vouchers_partner_id_code_hash')),
    sa.UniqueConstraint('redemption_id', name=op.f('uq_vouchers_redemption_id'))
    )
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index('ix_vouchers_customer_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_vouchers_issued_expiry', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'issued'"), sqlite_where=sa.text("status = 'issued'"))
        batch_op.create_index(batch_op.f('ix_vouchers_perk_id'), ['perk_id'], unique=False)



def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vouchers_perk_id'))
        batch_op.drop_index('ix_vouchers_issued_expiry', postgresql_where=sa.text("status = 'issued'"), sqlite_where=sa.text("status = 'issued'"))
        batch_op.drop_index('ix_vouchers_customer_id')

    op.drop_table('vouchers')
    with op.batch_alter_table('voucher_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_voucher_codes_available', postgresql_where=sa.text("status = 'available'"), sqlite_where=sa.text("status = 'available'"))

    op.drop_table('voucher_codes')

    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemptions_program_id'))
        batch_op.drop_index('ix_redemptions_perk_id')
        batch_op.drop_index('ix_redemptions_customer_perk')

    op.drop_table('redemptions')
    op.drop_table('perk_versions')
    with op.batch_alter_table('perks', schema=None) as batch_op:
        batch_op.drop_index('ix_perks_program_id_status')
        batch_op.drop_index(batch_op.f('ix_perks_partner_id'))

    op.drop_table('perks')
