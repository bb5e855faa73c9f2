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

from .conftest import scratch_database


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
