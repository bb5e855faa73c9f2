"""The Alembic migrations build the schema the models describe, on the test database's backend."""


import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db
from models import Base
from models.base import exists_on

from .databases import scratch_database


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A second, empty database on the same server as the test database."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    with scratch_database(database_url, "mig") as url:
        yield url


def test_migrations_match_the_models(empty_database_url):
    app = create_app(TestingConfig(empty_database_url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            opts = {"render_as_batch": True, "include_object": exists_on(conn.dialect.name)}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
            tables = set(inspect(conn).get_table_names())
        db.session.remove()
        db.engine.dispose()
    assert diff == []
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_pending_claims_filed_before_binding_name_the_proven_account_of_their_email(empty_database_url):
    from sqlalchemy import text

    app = create_app(TestingConfig(empty_database_url))
    with app.app_context():
        upgrade(revision="0011")
        with db.engine.begin() as conn:
            for user_id, email, verified in ((1, "proven@example.org", "2026-01-01"), (2, "typed@example.org", None)):
                conn.execute(text(
                    "INSERT INTO users (id, civility, last_name, first_name, email, phone, active, is_staff, "
                    "email_verified_at, created_at, updated_at, version, search_text, notify_requests, session_token, "
                    "link_nonce) VALUES (:id, 'M.', 'A', 'B', :email, '+33612345678', true, false, :verified, "
                    "'2026-01-01', '2026-01-01', 1, 'a b', true, 't', 'n')"), {"id": user_id, "email": email, "verified": verified})
            for request_id, email, status in ((1, "proven@example.org", "pending"), (2, "typed@example.org", "pending"),
                                              (3, "proven@example.org", "unconfirmed")):
                conn.execute(text(
                    "INSERT INTO account_requests (id, civility, last_name, first_name, email, phone, company_name, siret, "
                    "kind, status, requested_at) VALUES (:id, 'M.', 'A', 'B', :email, '+33612345678', 'X', "
                    "'11138540700015', 'attachment', :status, '2026-01-01')"), {"id": request_id, "email": email, "status": status})
        upgrade()
        with db.engine.connect() as conn:
            bound = dict(conn.execute(text("SELECT id, user_id FROM account_requests ORDER BY id")).all())
        db.session.remove()
        db.engine.dispose()
    # Only the confirmed claim on a proven address is bound; the others wait for their holder, or are refused.
    assert bound == {1: 1, 2: None, 3: None}
