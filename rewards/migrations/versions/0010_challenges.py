"""challenges: definitions and versions, opt-ins, progress per period, the purchases that
counted (one row per transaction and challenge), badges and the badges customers hold

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:43:06

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('challenges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('goal_type', sa.String(length=24), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('participants', sa.Integer(), server_default='0', nullable=False),
    sa.Column('completions', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("period IS NULL OR period IN ('week', 'month')", name=op.f('ck_challenges_period_known')),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'active', 'paused', 'ended')", name=op.f('ck_challenges_status_known')),
    sa.CheckConstraint('completions >= 0', name=op.f('ck_challenges_completions_not_negative')),
    sa.CheckConstraint('current_version >= 1', name=op.f('ck_challenges_version_positive')),
    sa.CheckConstraint('ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_challenges_window_ordered')),
    sa.CheckConstraint('participants >= 0', name=op.f('ck_challenges_participants_not_negative')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_challenges_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenges'))
    )
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.create_index('ix_challenges_program_id_status', ['program_id', 'status'], unique=False)

    op.create_table('challenge_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('challenge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint('version >= 1', name=op.f('ck_challenge_versions_version_positive')),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_challenge_versions_challenge_id_challenges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenge_versions')),
    sa.UniqueConstraint('challenge_id', 'version', name=op.f('uq_challenge_versions_challenge_id_version'))
    )

    op.create_table('challenge_joins',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('challenge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_challenge_joins_challenge_id_challenges')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_challenge_joins_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', 'challenge_id', name=op.f('pk_challenge_joins'))
    )
    with op.batch_alter_table('challenge_joins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_joins_challenge_id'), ['challenge_id'], unique=False)

    op.create_table('challenge_progress',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('challenge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('target', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('awards', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reward_points', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('reward_entry_id', sa.BigInteger(), nullable=True),
    sa.Column('current_streak', sa.Integer(), server_default='0', nullable=False),
    sa.Column('best_streak', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_active_day', sa.Date(), nullable=True),
    sa.Column('freeze_used_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'completed', 'revoked')", name=op.f('ck_challenge_progress_status_known')),
    sa.CheckConstraint('awards >= 0', name=op.f('ck_challenge_progress_awards_not_negative')),
    sa.CheckConstraint('current_streak >= 0 AND best_streak >= current_streak', name=op.f('ck_challenge_progress_streaks_ordered')),
    sa.CheckConstraint('reward_points >= 0', name=op.f('ck_challenge_progress_reward_points_not_negative')),
    sa.CheckConstraint('target > 0', name=op.f('ck_challenge_progress_target_positive')),
    sa.CheckConstraint('value >= 0', name=op.f('ck_challenge_progress_value_not_negative')),
    sa.PrimaryKeyConstraint('customer_id', 'challenge_id', 'period', name=op.f('pk_challenge_progress'))
    )
    with op.batch_alter_table('challenge_progress', schema=None) as batch_op:
        batch_op.create_index('ix_challenge_progress_challenge_id_period', ['challenge_id', 'period'], unique=False)

    op.create_table('challenge_contributions',
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('challenge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('refunded_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('merchant_id', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_challenge_contributions_amount_positive')),
    sa.CheckConstraint('refunded_minor >= 0 AND refunded_minor <= amount_minor', name=op.f('ck_challenge_contributions_refund_range')),
    sa.PrimaryKeyConstraint('transaction_id', 'challenge_id', name=op.f('pk_challenge_contributions'))
    )
    with op.batch_alter_table('challenge_contributions', schema=None) as batch_op:
        batch_op.create_index('ix_challenge_contributions_progress', ['customer_id', 'challenge_id', 'period'], unique=False)

    op.create_table('badges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('image_url', sa.String(length=500), nullable=True),
    sa.Column('criteria', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'active', 'retired')", name=op.f('ck_badges_status_known')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_badges_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_badges'))
    )
    with op.batch_alter_table('badges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_badges_program_id'), ['program_id'], unique=False)

    op.create_table('customer_badges',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('badge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('awarded_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("source IN ('challenge', 'milestone', 'manual')", name=op.f('ck_customer_badges_source_known')),
    sa.ForeignKeyConstraint(['badge_id'], ['badges.id'], name=op.f('fk_customer_badges_badge_id_badges')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_badges_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', 'badge_id', name=op.f('pk_customer_badges'))
    )
    with op.batch_alter_table('customer_badges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_badges_badge_id'), ['badge_id'], unique=False)


def downgrade():
    op.drop_table('customer_badges')
    op.drop_table('badges')
    op.drop_table('challenge_contributions')
    op.drop_table('challenge_progress')
    op.drop_table('challenge_joins')
    op.drop_table('challenge_versions')
    op.drop_table('challenges')
