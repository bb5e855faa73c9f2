"""Writing many rows at once, as fast as the database takes them (the volume data; long jobs)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Session

from models.types import UTCDateTime


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]] | Sequence[tuple[Any, ...]],
            columns: Sequence[str] | None = None) -> None:
    """Write rows (dicts, or tuples in `columns`' order) as fast as the database takes them: COPY on
    PostgreSQL, the driver's executemany on SQLite. SQLAlchemy's per-parameter processing cost more than
    the database itself; values are therefore given as the column stores them (UTC datetimes, JSON text).
    Columns left out take their server default (or NULL): every row names the same columns."""
    if not rows:
        return
    if columns is None:
        columns = list(rows[0])
        pick = itemgetter(*columns)
        rows = [pick(row) for row in rows]  # type: ignore[arg-type]
    table = model.__table__
    json_positions = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    connection = session.connection()
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection  # the session's own transaction
        with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_with_json(row, json_positions) if json_positions else row)
        return
    stamp_positions = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, UTCDateTime)]

    def stored(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(_with_json(row, json_positions) if json_positions else row)
        for i in stamp_positions:
            if values[i] is not None:  # what SQLAlchemy's SQLite DATETIME writes: UTC, naive, microseconds
                values[i] = values[i].astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return tuple(values)

    marks = ", ".join("?" for _ in columns)
    # Not injectable (bandit B608): the table and column names come from the model, the values are bound.
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # nosec B608
    for start in range(0, len(rows), 50_000):
        connection.exec_driver_sql(statement, [stored(row) for row in rows[start : start + 50_000]])


def _with_json(row: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in positions:
        values[i] = "null" if values[i] is None else json.dumps(values[i])  # as SQLAlchemy's JSON stores None
    return tuple(values)
