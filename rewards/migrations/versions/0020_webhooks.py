"""webhooks: endpoints (partners' and the program's own), one delivery per (endpoint, event),
the attempts of each; events get the partner they are about

Events already in the outbox are marked published: they predate every endpoint, and a new
endpoint receives events from its registration on (older ones by an explicit replay).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 21:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('partner_id', ID, nullable=True))
    op.execute("UPDATE events SET published_at = created_at WHERE published_at IS NULL")
    op.create_table('webhook_endpoints',
    sa.Column('id', ID, nullable=False),
    sa.Column('program_id', ID, nullable=False),
    sa.Column('partner_id', ID, nullable=True),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('event_types', JSON, nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=200), nullable=True),
    sa.Column('secret_sealed', sa.String(length=200), nullable=False),
    sa.Column('previous_secret_sealed', sa.String(length=200), nullable=True),
    sa.Column('previous_secret_until', WHEN, nullable=True),
    sa.Column('failing_since', WHEN, nullable=True),
    sa.Column('lease_until', WHEN, nullable=True),
    sa.Column('deleted_at', WHEN, nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_webhook_endpoints_partner_id_partners')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_webhook_endpoints_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_index('ix_webhook_endpoints_owner', 'webhook_endpoints', ['program_id', 'partner_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', ID, nullable=False),
    sa.Column('program_id', ID, nullable=False),
    sa.Column('partner_id', ID, nullable=True),
    sa.Column('endpoint_id', ID, nullable=False),
    sa.Column('event_id', ID, nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', WHEN, nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('last_latency_ms', sa.Integer(), nullable=True),
    sa.Column('delivered_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_deliveries_status_known')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_webhook_deliveries_event_id_events')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_webhook_deliveries_partner_id_partners')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_webhook_deliveries_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('endpoint_id', 'event_id', name=op.f('uq_webhook_deliveries_endpoint_id_event_id'))
    )
    op.create_index('ix_webhook_deliveries_log', 'webhook_deliveries', ['program_id', 'partner_id', 'id'], unique=False)
    op.create_index('ix_webhook_deliveries_pending', 'webhook_deliveries', ['endpoint_id', 'event_id'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_table('webhook_attempts',
    sa.Column('id', ID, nullable=False),
    sa.Column('delivery_id', ID, nullable=False),
    sa.Column('attempted_at', WHEN, nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('response_excerpt', sa.String(length=1024), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
    )
    op.create_index(op.f('ix_webhook_attempts_delivery_id'), 'webhook_attempts', ['delivery_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_webhook_attempts_delivery_id'), table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_index('ix_webhook_deliveries_pending', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_log', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_webhook_endpoints_owner', table_name='webhook_endpoints')
    op.drop_table('webhook_endpoints')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('partner_id')
