"""The files the app writes on its server (export files, the SQLite database) are its system user's only:
0600 files in 0700 folders, whatever the umask."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from admin_app.extensions import db as app_db
from admin_app.private_files import create_private_file, sqlite_file
from models import Base, Job

from .jobs_helpers import run_job, start_export
from .servers import workers_on


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int):
    """The process's umask set to `value` meanwhile: the modes must not depend on it."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def test_an_export_file_and_the_folder_it_creates_are_owner_only(app, staff_client, jobs_run_by_the_test, db,
                                                                monkeypatch, tmp_path):
    folder = tmp_path / "shared" / "exports"
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(folder))
    with umask(0):
        job_id = start_export(staff_client)
        assert run_job(app, job_id) == "done"
    name = db.session.get(Job, job_id).result_path
    assert name and (folder / name).stat().st_size > 0
    assert mode(folder) == 0o700 and mode(folder / name) == 0o600
    assert staff_client.get(f"/admin/jobs/{job_id}/download").status_code == 200  # the app still reads it


def test_a_restarted_exports_file_left_readable_is_made_owner_only(tmp_path):
    path = tmp_path / "utilisateurs-1.csv"
    path.write_bytes(b"left over")
    path.chmod(0o644)
    create_private_file(path)
    assert mode(path) == 0o600 and path.read_bytes() == b""


def test_the_sqlite_database_is_owner_only(app, tmp_path):
    database = tmp_path / "instance" / "app.db"
    database.parent.mkdir(mode=0o700)  # SQLite makes no folder: a database in a missing one stays unavailable
    with umask(0), workers_on(app, f"sqlite:///{database}", "memory://") as (worker,):
        with worker.app_context():
            Base.metadata.create_all(app_db.engine)
            with app_db.engine.begin() as connection:  # a write: SQLite's journal comes and goes meanwhile
                connection.execute(text("INSERT INTO companies (name, siren) VALUES ('Jakku', '732829320')"))
    assert mode(database.parent) == 0o700
    assert [(p.name, mode(p)) for p in database.parent.iterdir()] == [("app.db", 0o600)]
    assert database.stat().st_size > 0


def test_a_sqlite_database_created_readable_earlier_is_narrowed_at_start(app, tmp_path):
    database = tmp_path / "app.db"
    database.touch()
    database.chmod(0o644)
    with workers_on(app, f"sqlite:///{database}", "memory://"):
        pass
    assert mode(database) == 0o600


@pytest.mark.parametrize("uri, expected", [
    ("sqlite:////srv/data/app.db", "/srv/data/app.db"),
    ("sqlite:///app.db", "/instance/app.db"),  # Flask-SQLAlchemy reads a relative path in the instance folder
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/app", None),
])
def test_which_file_is_the_sqlite_database(uri, expected):
    found = sqlite_file(uri, "/instance")
    assert (str(found) if found else None) == expected
