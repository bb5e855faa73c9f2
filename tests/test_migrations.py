"""The Alembic migrations build the schema the models describe, on the test database's backend."""

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db
from models import Base


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A second, empty database on the same server as the test database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"mig_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def test_migrations_match_the_models(empty_database_url):
    app = create_app(TestingConfig(empty_database_url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"render_as_batch": True}), Base.metadata)
            tables = set(inspect(conn).get_table_names())
        db.session.remove()
        db.engine.dispose()
    assert diff == []
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
