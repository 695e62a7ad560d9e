"""tiers, levels and XP: the tier ladder per program, level thresholds, XP changes, a customer's
tier review date and own leaderboard opt-in, XP rules per program, events about a customer

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:22:01.525175

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('xp_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('xp', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xp_entries'))
    )
    with op.batch_alter_table('xp_entries', schema=None) as batch_op:
        batch_op.create_index('ix_xp_entries_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_xp_entries_program_created', ['program_id', 'created_at'], unique=False)

    op.create_table('levels',
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('xp', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.CheckConstraint('level >= 1', name=op.f('ck_levels_level_positive')),
    sa.CheckConstraint('xp >= 0', name=op.f('ck_levels_xp_not_negative')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_levels_program_id_programs')),
    sa.PrimaryKeyConstraint('program_id', 'level', name=op.f('pk_levels'))
    )
    op.create_table('tiers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('earn_multiplier', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.CheckConstraint('earn_multiplier >= 1', name=op.f('ck_tiers_multiplier_at_least_one')),
    sa.CheckConstraint('threshold >= 0', name=op.f('ck_tiers_threshold_not_negative')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_tiers_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tiers')),
    sa.UniqueConstraint('program_id', 'code', name=op.f('uq_tiers_program_id_code')),
    sa.UniqueConstraint('program_id', 'threshold', name=op.f('uq_tiers_program_id_threshold'))
    )
    with op.batch_alter_table('tiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tiers_program_id'), ['program_id'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('tier_review_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('leaderboard_opted_in_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index('ix_events_customer', ['customer_id', 'id'], unique=False)

    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('xp_rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default='{}', nullable=False))



def downgrade():
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('xp_rules')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_customer')
        batch_op.drop_column('customer_id')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('leaderboard_opted_in_at')
        batch_op.drop_column('tier_review_on')
        batch_op.drop_column('tier_since')

    with op.batch_alter_table('tiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tiers_program_id'))

    op.drop_table('tiers')
    op.drop_table('levels')
    with op.batch_alter_table('xp_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_xp_entries_program_created')
        batch_op.drop_index('ix_xp_entries_customer')

    op.drop_table('xp_entries')
