"""the account requests each notification email lists, so that several requests to one person within
minutes share one email, re-rendered with each new one until a worker claims it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 02:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbound_email_requests',
    sa.Column('email_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['email_id'], ['outbound_emails.id'], name=op.f('fk_outbound_email_requests_email_id_outbound_emails'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['account_requests.id'], name=op.f('fk_outbound_email_requests_request_id_account_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('email_id', 'request_id', name=op.f('pk_outbound_email_requests'))
    )
    with op.batch_alter_table('outbound_email_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_email_requests_request_id'), ['request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('outbound_email_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_email_requests_request_id'))
    op.drop_table('outbound_email_requests')
