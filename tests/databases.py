"""The test database: which one runs, a scratch one beside it, and reading back its state for the assertions."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

from models import AccountRequest, Grant, User

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database next to `server_url`'s, yield its URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@contextmanager
def count_statements(db):
    """The SQL statements sent on the test database's engine meanwhile (the app's requests included)."""
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def snapshot(db):
    """Everything a refused attempt must leave as it was."""
    db.session.expire_all()
    users = db.session.execute(select(User.id, User.active, User.is_staff, User.job_title, User.version).order_by(User.id)).all()
    grants = db.session.execute(select(Grant.user_id, Grant.establishment_id, Grant.is_primary, Grant.manager, Grant.user_admin,
                                       Grant.payments).order_by(Grant.id)).all()
    requests = db.session.execute(select(AccountRequest.id, AccountRequest.status).order_by(AccountRequest.id)).all()
    return users, grants, requests


def states(db, ids) -> dict[int, bool]:
    """Whether each of these users is active, read afresh."""
    db.session.expire_all()
    return dict(db.session.execute(select(User.id, User.active).where(User.id.in_(ids))).all())


def never_logged_in(db) -> dict[int, bool]:
    """The client users who never logged in, and whether each is active."""
    return dict(db.session.execute(select(User.id, User.active).where(User.last_login_at.is_(None), User.is_staff.is_(False))).all())
