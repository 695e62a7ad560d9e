"""partner events in: transactions get their source (card or partner) and the reporting
partner; partners' inbound secrets, link codes and links; inbound events by webhook-id

`source` has a constant default, so PostgreSQL adds it without rewriting the table.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 20:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def upgrade():
    with op.batch_alter_table('transactions') as batch:
        batch.add_column(sa.Column('source', sa.String(length=16), server_default='card', nullable=False))
        batch.add_column(sa.Column('partner_id', ID, nullable=True))
        batch.create_foreign_key(op.f('fk_transactions_partner_id_partners'), 'partners', ['partner_id'], ['id'])
    op.create_index(op.f('ix_webhook_attempts_attempted_at'), 'webhook_attempts', ['attempted_at'], unique=False)
    op.create_table('partner_inbound_secrets',
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('secret_sealed', sa.String(length=200), nullable=False),
    sa.Column('previous_sealed', sa.String(length=200), nullable=True),
    sa.Column('previous_until', WHEN, nullable=True),
    sa.Column('updated_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_inbound_secrets_partner_id_partners')),
    sa.PrimaryKeyConstraint('partner_id', name=op.f('pk_partner_inbound_secrets'))
    )
    op.create_table('partner_link_codes',
    sa.Column('id', ID, nullable=False),
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('partner_ref', sa.String(length=128), nullable=False),
    sa.Column('expires_at', WHEN, nullable=False),
    sa.Column('used_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_link_codes_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_link_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_partner_link_codes_code_hash'))
    )
    op.create_index(op.f('ix_partner_link_codes_partner_id'), 'partner_link_codes', ['partner_id'], unique=False)
    op.create_table('partner_links',
    sa.Column('id', ID, nullable=False),
    sa.Column('program_id', ID, nullable=False),
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('partner_ref', sa.String(length=128), nullable=False),
    sa.Column('created_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_partner_links_customer_id_customers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_links_partner_id_partners')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_partner_links_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_links')),
    sa.UniqueConstraint('partner_id', 'customer_id', name=op.f('uq_partner_links_partner_id_customer_id')),
    sa.UniqueConstraint('partner_id', 'partner_ref', name=op.f('uq_partner_links_partner_id_partner_ref'))
    )
    op.create_index('ix_partner_links_customer', 'partner_links', ['customer_id'], unique=False)
    op.create_table('inbound_events',
    sa.Column('id', ID, nullable=False),
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('webhook_id', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('transaction_id', ID, nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', JSON, nullable=False),
    sa.Column('received_at', WHEN, server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_inbound_events_partner_id_partners')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_inbound_events_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_events')),
    sa.UniqueConstraint('partner_id', 'webhook_id', name=op.f('uq_inbound_events_partner_id_webhook_id'))
    )


def downgrade():
    op.drop_table('inbound_events')
    op.drop_index('ix_partner_links_customer', table_name='partner_links')
    op.drop_table('partner_links')
    op.drop_index(op.f('ix_partner_link_codes_partner_id'), table_name='partner_link_codes')
    op.drop_table('partner_link_codes')
    op.drop_table('partner_inbound_secrets')
    op.drop_index(op.f('ix_webhook_attempts_attempted_at'), table_name='webhook_attempts')
    with op.batch_alter_table('transactions') as batch:
        batch.drop_constraint(op.f('fk_transactions_partner_id_partners'), type_='foreignkey')
        batch.drop_column('partner_id')
        batch.drop_column('source')
