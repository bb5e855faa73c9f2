"""indexes for the lists at scale: requests and emails in their default order, the audit trail's
tie-break, trigram indexes for the name search on PostgreSQL; users updated in place (no index on
`active`, room in each page) so that bulk (de)activation touches no index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 04:10:00

"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('account_requests', schema=None) as batch_op:
        batch_op.create_index('ix_account_requests_requested', ['requested_at', 'id'], unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_created_at')
        batch_op.create_index('ix_audit_events_created', ['created_at', 'id'], unique=False)
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_emails_created', ['created_at', 'id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_active_name')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE users SET (fillfactor = 85)')  # for the pages written from now on
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for column in ('search_text', 'email'):
            op.create_index(f'ix_users_{column}_trgm', 'users', [column], unique=False, postgresql_using='gin',
                            postgresql_ops={column: 'gin_trgm_ops'})


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for column in ('search_text', 'email'):
            op.drop_index(f'ix_users_{column}_trgm', table_name='users')
        op.execute('ALTER TABLE users RESET (fillfactor)')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_active_name', ['active', 'last_name', 'first_name', 'id'], unique=False)
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_emails_created')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_created')
        batch_op.create_index('ix_audit_events_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('account_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_account_requests_requested')
