"""account requests may wait for the account holder's confirmation ("unconfirmed"); pending claims on
existing accounts filed before this version were never confirmed by their holder: they go back to
"unconfirmed", where nobody can approve them (the holder files again from their profile)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 11:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('account_requests', schema=None) as batch_op:
        batch_op.drop_constraint('status', type_='check')
        batch_op.alter_column('status', existing_type=sa.String(length=10), type_=sa.String(length=11))
        batch_op.create_check_constraint('status', "status in ('unconfirmed', 'pending', 'approved', 'refused')")
    op.execute("UPDATE account_requests SET status = 'unconfirmed' WHERE status = 'pending' AND kind = 'attachment'")


def downgrade():
    op.execute("UPDATE account_requests SET status = 'pending' WHERE status = 'unconfirmed'")
    with op.batch_alter_table('account_requests', schema=None) as batch_op:
        batch_op.drop_constraint('status', type_='check')
        batch_op.alter_column('status', existing_type=sa.String(length=11), type_=sa.String(length=10))
        batch_op.create_check_constraint('status', "status in ('pending', 'approved', 'refused')")
