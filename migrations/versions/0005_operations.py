"""bulk actions become operations: one row per bulk action (who, when, scope, counts), one item per
user it touched (state before and after, the version it left), so that it can be taken back exactly

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 13:00:00

"""
import sqlalchemy as sa
from alembic import op

import models.types  # noqa: F401  (custom column types)

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('operations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=300), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('requested', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('emails', sa.Integer(), nullable=False),
    sa.Column('undone_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.Column('undone_by_label', sa.String(length=300), nullable=True),
    sa.Column('undo_of_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind in ('activate', 'deactivate', 'activate_links', 'delete', 'undo')", name=op.f('ck_operations_kind')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_operations_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['users.id'], name=op.f('fk_operations_undone_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['undo_of_id'], ['operations.id'], name=op.f('fk_operations_undo_of_id_operations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operations'))
    )
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.create_index('ix_operations_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_operations_actor', ['actor_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_operations_undo_of_id'), ['undo_of_id'], unique=False)

    op.create_table('operation_items',
    sa.Column('operation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('user_label', sa.String(length=300), nullable=False),
    sa.Column('active_before', sa.Boolean(), nullable=True),
    sa.Column('active_after', sa.Boolean(), nullable=True),
    sa.Column('version_after', sa.Integer(), nullable=True),
    sa.Column('email_kind', sa.String(length=30), nullable=True),
    sa.Column('undone', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['operation_id'], ['operations.id'], name=op.f('fk_operation_items_operation_id_operations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('operation_id', 'user_id', name=op.f('pk_operation_items'))
    )
    with op.batch_alter_table('operation_items', schema=None) as batch_op:
        batch_op.create_index('ix_operation_items_user', ['user_id', 'operation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('operation_items', schema=None) as batch_op:
        batch_op.drop_index('ix_operation_items_user')
    op.drop_table('operation_items')
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operations_undo_of_id'))
        batch_op.drop_index('ix_operations_actor')
        batch_op.drop_index('ix_operations_created')
    op.drop_table('operations')
