"""CSV exports: streamed, UTF-8 with BOM (Excel), formula-safe cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context

from admin_app.extensions import db
from models.rules import csv_safe


def csv_response(filename: str, header: list[str], statement, row_values: Callable[[Any], Iterable[object]]) -> Response:
    """Stream `statement`'s rows as CSV, a thousand rows at a time, never the whole result in memory."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        writer.writerow(header)
        yield "\ufeff" + buffer.getvalue()
        for row in db.session.execute(statement.execution_options(yield_per=1000)):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([csv_safe(v) for v in row_values(row)])
            yield buffer.getvalue()

    return Response(
        stream_with_context(lines()),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
