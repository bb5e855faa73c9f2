"""users.previous_email: the address an account had before a change, kept for it while the change can be taken back

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 02:00:00

"""
import sqlalchemy as sa
from alembic import op

import models.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('previous_email_until', models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_previous_email'), ['previous_email'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_previous_email'))
        batch_op.drop_column('previous_email_until')
        batch_op.drop_column('previous_email')
