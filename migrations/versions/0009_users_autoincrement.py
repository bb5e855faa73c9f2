"""users.id never reused on SQLite: the table rebuilt with AUTOINCREMENT (PostgreSQL's sequences never reuse ids)

Without AUTOINCREMENT SQLite gives a new row the highest id + 1: the newest user deleted, the next user created
got their id, and with it the deleted user's operation items (user_id has no foreign key), in their history and
in an undo. SQLite cannot add AUTOINCREMENT in place: the table is rebuilt, as SQLite's documented procedure for
schema changes says, with foreign keys off (dropping the old table would otherwise cascade to every grant, request
and audit link) and checked before the commit.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:40:00

"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _rebuild_users(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    with op.get_context().autocommit_block():
        op.execute('PRAGMA foreign_keys=OFF')  # a no-op inside a transaction: hence the autocommit block
        try:
            op.execute('BEGIN')
            with op.batch_alter_table('users', recreate='always',
                                      table_kwargs={'sqlite_autoincrement': autoincrement}):
                pass
            problems = op.get_bind().exec_driver_sql('PRAGMA foreign_key_check').fetchall()
            if problems:
                op.execute('ROLLBACK')
                raise RuntimeError(f'users rebuilt with dangling references, nothing changed: {problems[:5]}')
            op.execute('COMMIT')
        finally:
            op.execute('PRAGMA foreign_keys=ON')


def upgrade():
    _rebuild_users(True)


def downgrade():
    _rebuild_users(False)
