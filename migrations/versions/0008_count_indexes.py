"""the users list's exact count under "Mot de passe" from an index alone: users with / without a password

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 14:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_with_password', ['id'], unique=False,
                              postgresql_where=sa.text('password_hash IS NOT NULL'), sqlite_where=sa.text('password_hash IS NOT NULL'))
        batch_op.create_index('ix_users_without_password', ['id'], unique=False,
                              postgresql_where=sa.text('password_hash IS NULL'), sqlite_where=sa.text('password_hash IS NULL'))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_without_password')
        batch_op.drop_index('ix_users_with_password')
