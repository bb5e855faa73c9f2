"""users.pending_email: a new address waits, unproven, until the link sent to its mailbox is used

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:00:00

"""
import sqlalchemy as sa
from alembic import op

import models.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('pending_email_at', models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('pending_email_at')
        batch_op.drop_column('pending_email')
