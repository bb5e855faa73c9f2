"""background jobs: long exports and bulk actions run in chunks by a worker, resumable

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:00:00

"""
import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_label', sa.String(length=300), nullable=False),
        sa.Column('actor_ip', sa.String(length=45), nullable=True),
        sa.Column('parameters', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('cursor', sa.JSON(), nullable=True),
        sa.Column('cancel_requested', sa.Boolean(), nullable=False),
        sa.Column('worker', sa.String(length=64), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=True),
        sa.Column('heartbeat_at', UTCDateTime(), nullable=True),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('result_path', sa.String(length=500), nullable=True),
        sa.Column('result_expires_at', UTCDateTime(), nullable=True),
        sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed', 'cancelled')", name=op.f('ck_jobs_status')),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_jobs_actor_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    )
    op.create_index('ix_jobs_actor', 'jobs', ['actor_id', 'created_at'], unique=False)
    op.create_index('ix_jobs_status', 'jobs', ['status', 'heartbeat_at'], unique=False)


def downgrade():
    op.drop_index('ix_jobs_status', table_name='jobs')
    op.drop_index('ix_jobs_actor', table_name='jobs')
    op.drop_table('jobs')
