"""Fixtures only: one app and one throw-away database per test run; every test starts empty. Helpers live in
modules of their own (demo.py, http.py, databases.py, servers.py, jobs_helpers.py, threads.py, services/factories.py).

With TEST_DATABASE_URL (postgresql+psycopg://...), a database `test_<random>` is
created from that connection and dropped at the end; otherwise SQLite in a
temporary folder.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db as _db
from admin_app.extensions import limiter
from admin_app.services import emails
from models import Base, User

from .databases import never_logged_in, scratch_database
from .demo import LUKE, STAFF
from .http import login
from .servers import Inbox, free_port
from .services import factories


@event.listens_for(Engine, "connect")
def _fast_throwaway_sqlite(dbapi_connection, _record) -> None:
    # The test database is thrown away after the run: no need to wait for each commit to reach the disk.
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    with scratch_database(server_url, "test") as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(TestingConfig(database_url))
    with app.app_context():
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_database(request) -> Iterator[None]:
    """Empty every table after each test that used the app, and forget rate-limit counters."""
    yield
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    with app.app_context():
        _db.session.remove()
        tables = list(reversed(Base.metadata.sorted_tables))
        with _db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(t.name for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
        limiter.reset()


@pytest.fixture
def db(app: Flask):
    """A session of its own on the test database, for arranging and checking data.

    Not the app's scoped session, and no app context held open: a test-client
    request made meanwhile must get its own context (its own `g`, its own session).
    """
    with app.app_context():
        engine = _db.engine
    session = Session(bind=engine)
    yield SimpleNamespace(session=session, engine=engine)
    session.close()


@pytest.fixture
def app_context(app: Flask):
    """An app context, for calling services that render emails; make no request inside it."""
    with app.app_context():
        yield
        _db.session.remove()


@pytest.fixture
def session(app: Flask):
    """The app's session inside an app context, for calling services directly (tests/services and the probes of
    tests/test_review_hostile.py); rolled back and removed afterwards. Make no request inside it."""
    with app.app_context():
        yield _db.session
        _db.session.rollback()
        _db.session.remove()


@pytest.fixture
def jobs_run_by_the_test(app: Flask, monkeypatch):
    """Background jobs wait until the test runs them (tests/jobs_helpers.py's run_job), two rows a chunk."""
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "off")
    monkeypatch.setitem(app.config, "JOB_CHUNK_SIZE", 2)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def demo(app: Flask) -> None:
    """Load the guide's demo cast."""
    from admin_app.services import seed

    with app.app_context():
        seed.load_demo(_db.session)
        _db.session.remove()


@pytest.fixture
def as_user(app, demo):
    """A new test client logged in with `credentials` (demo data), for each person a test needs."""
    def make(credentials):
        client = app.test_client()
        assert login(client, *credentials).status_code == 302
        return client
    return make


@pytest.fixture
def as_member(app, db):
    """A new test client logged in as `user`, made by the test with factories.member in db.session (committed here)."""
    def make(user):
        email = user.email
        db.session.commit()
        client = app.test_client()
        assert login(client, email, factories.PASSWORD).status_code == 302
        return client
    return make


@pytest.fixture
def staff_client(client: FlaskClient, demo) -> FlaskClient:
    response = login(client, *STAFF)
    assert response.status_code == 302 and response.location == "/admin/"
    return client


@pytest.fixture
def smtp(app):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: app.config[k] for k in ("MAIL_BACKEND", "MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    yield SimpleNamespace(inbox=inbox, port=port, controller=controller)
    app.config.update(saved)
    controller.stop()


@pytest.fixture
def prepared(db, demo):
    """The demo's five client users besides Luke (who logs in) never logged in, one of them already inactive: the
    case of the bulk actions' issue. Returns (their ids sorted, [the inactive one's id])."""
    chosen = db.session.scalars(select(User.id).where(User.is_staff.is_(False), User.email != LUKE[0])).all()
    db.session.execute(User.__table__.update().values(last_login_at=func.now()).where(User.id.not_in(chosen), User.last_login_at.is_(None)))
    db.session.execute(User.__table__.update().values(last_login_at=None).where(User.id.in_(chosen)))
    db.session.commit()
    matching = sorted(never_logged_in(db))
    assert matching == sorted(chosen)
    db.session.execute(User.__table__.update().where(User.id.in_(matching[:1])).values(active=False))
    db.session.execute(User.__table__.update().where(User.id.in_(matching[1:])).values(active=True))
    db.session.commit()
    return matching, matching[:1]


@pytest.fixture
def rendered(monkeypatch) -> Counter:
    """The emails rendered, by kind, whether kept or dropped afterwards: the work a call did, counted (the answers
    that must not tell are compared on it too)."""
    made: Counter = Counter()
    original = emails.render

    def spy(kind, subject, **context):
        made[kind] += 1
        return original(kind, subject, **context)

    monkeypatch.setattr(emails, "render", spy)
    return made
