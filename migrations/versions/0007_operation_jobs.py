"""operations run by a background job: the job that runs them, and how it ended

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('state', sa.String(length=10), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_operations_job_id_jobs'), 'jobs', ['job_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_operations_job_id', ['job_id'], unique=False)


def downgrade():
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_index('ix_operations_job_id')
        batch_op.drop_constraint(batch_op.f('fk_operations_job_id_jobs'), type_='foreignkey')
        batch_op.drop_column('state')
        batch_op.drop_column('job_id')
