"""Background jobs: long actions run in chunks by a worker, with their progress in the database.

`start_export_job` (the users list's export of every matching user) records a job and hands it to the
configured backend (admin_app.jobs.backends); `runner.run_job` does the work; views/jobs.py shows it.
docs/jobs.md says how it fits together and how production runs the workers.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from sqlalchemy.orm import Session

from models import Job, JobKind

from ..authority import perimeter_of
from ..services.common import Actor, ServiceError
from . import backends, bulk, export, runner

runner.register(JobKind.EXPORT_USERS, export.ExportUsers())
runner.register(JobKind.BULK_USERS, bulk.BulkUsers())

QUEUE_DOWN = "La file des tâches est momentanément indisponible : rien n'a été fait, réessayez dans quelques minutes."


def announce(session: Session, job: Job) -> Job:
    """Hand a committed job to the backend; if Redis cannot take it, withdraw the job and refuse (QUEUE_DOWN).

    Withdrawn rather than left waiting for the reaper: nobody knows when Redis comes back, and an action on
    30,000 users that starts hours later, once its author has moved on (or retried), is a surprise. So the
    answer is either the job's page (it runs) or « rien n'a été fait » (no job), and a retry starts one job."""
    if backends.enqueue(job):
        return job
    if runner.withdraw(session, job.id):
        raise ServiceError(QUEUE_DOWN)
    return job  # a worker took it meanwhile (the message went through after all): it runs


def start_export_job(session: Session, actor: Actor, filter_args: Mapping[str, str], search: str | None = None) -> Job:
    """Export every user the list shows `actor` for these filters, as a job; returns it, queued."""
    export.refuse_unless_admin(perimeter_of(session, actor))
    job = runner.create(session, actor, JobKind.EXPORT_USERS, export.parameters(filter_args, search))
    return announce(session, job)


def start_bulk_job(session: Session, actor: Actor, action: str, filter_args: Mapping[str, str], search: str | None = None) -> Job:
    """Apply a registered bulk action (bulk.register_action) to every matching user, as a job."""
    export.refuse_unless_admin(perimeter_of(session, actor))
    job = runner.create(session, actor, JobKind.BULK_USERS, bulk.parameters(action, filter_args, search))
    return announce(session, job)


def init_app(app: Flask) -> None:
    backends.init_app(app)


__all__ = ["QUEUE_DOWN", "announce", "backends", "bulk", "export", "init_app", "runner", "start_bulk_job", "start_export_job"]
