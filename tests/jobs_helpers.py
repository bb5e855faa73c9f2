"""Helpers for the tests that start background jobs through HTTP, run them themselves and read what they show
(tests/views/test_jobs.py, tests/views/test_bulk_jobs.py, tests/test_review_hostile.py). Their jobs run only when
the test runs them: the `jobs_run_by_the_test` fixture, in tests/conftest.py."""

from __future__ import annotations

import csv
import io
import re

from admin_app.extensions import db as _db
from admin_app.jobs import runner

from .http import csrf_token


class Crash(BaseException):
    """A worker dying mid-chunk: not an Exception, so nothing in the runner handles it (as with SIGKILL)."""


def job_id_of(response) -> int:
    """The job a POST started, from its redirect to the job's page."""
    assert response.status_code == 302, response.status_code
    found = re.fullmatch(r"/admin/jobs/(\d+)/", response.location)
    assert found, response.location
    return int(found.group(1))


def start_export(client, query: str = "") -> int:
    """Start an export of the users list (with `query`'s filters) as `client`'s person: the job's id."""
    return job_id_of(client.post(f"/admin/jobs/export-users{query}", data={"csrf_token": csrf_token(client, "/admin/users/")}))


def run_job(app, job_id: int) -> str | None:
    """Run the job in this process, as a worker would: its final status (None when it was not run)."""
    with app.app_context():
        status = runner.run_job(job_id)
        _db.session.remove()
        return status


def csv_rows(body: bytes) -> list[list[str]]:
    """An export's rows (header included), its byte order mark dropped."""
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
