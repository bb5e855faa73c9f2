"""Files the app writes on its own server, readable by its own system user only (0600 files, 0700 folders).

The embedded SQLite database holds every account (emails, phones, password hashes) and an export file
lists the users of a perimeter: with the usual umask (022) both came out readable by every local user.
The mode is given when the file is created (os.open, mkdir), never opened wider and narrowed after.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """`path`, created owner-only when missing (its parents as usual); an existing folder is left as its owner set it."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    return path


def create_private_file(path: Path) -> None:
    """Create `path` empty and owner-only, or empty it and make it owner-only if it exists (a restarted job's)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # an existing file keeps its mode through O_CREAT
    finally:
        os.close(descriptor)


def sqlite_file(database_uri: str, instance_path: str) -> Path | None:
    """The file of an SQLite database URI (relative paths are in the instance folder, as Flask-SQLAlchemy reads
    them), or None for another database, an in-memory one or a `file:` URI."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(instance_path, url.database)  # an absolute database path wins over instance_path


def protect_sqlite_database(database_uri: str, instance_path: str) -> None:
    """Create the SQLite database file owner-only before SQLite does (SQLite gives its journal and WAL files the
    database's mode), and narrow one created earlier with the default mode."""
    path = sqlite_file(database_uri, instance_path)
    if path is None or not path.parent.is_dir():
        return  # SQLite makes no folder either: a database in a missing one stays unavailable (/healthz says so)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(FILE_MODE)
        return
    os.close(descriptor)  # an empty file is an empty SQLite database
