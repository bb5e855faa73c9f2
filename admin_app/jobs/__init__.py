"""Background jobs: long actions run in chunks by a worker, with their progress in the database.

`start_export_job` (the users list's export of every matching user), `start_bulk_job` (an action on every
matching user) and `start_undo_job` (taking back a large operation) record a job and hand it to the configured
backend (admin_app.jobs.backends; `announce`: a job Redis cannot take is withdrawn, never left to run later
behind an error); `runner.run_job` does the work; views/jobs.py shows it.
docs/jobs.md says how it fits together and how production runs the workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from flask import Flask
from sqlalchemy.orm import Session

from models import Job, JobKind, Operation

from ..authority import perimeter_of
from ..services.common import Actor, ServiceError
from ..services.operations import DEFAULT_UNDO_WINDOW, NOT_FOUND, undo_problem
from . import backends, bulk, export, runner, undo

runner.register(JobKind.EXPORT_USERS, export.ExportUsers())
runner.register(JobKind.BULK_USERS, bulk.BulkUsers())
runner.register(JobKind.UNDO_OPERATION, undo.UndoOperation())

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


class UndoUnderWay(ServiceError):
    """An undo of this operation is already waiting or running: `job_id` names it; no second one was started."""

    def __init__(self, job_id: int) -> None:
        super().__init__(UNDO_UNDER_WAY)
        self.job_id = job_id


UNDO_UNDER_WAY = "L'annulation de cette opération est déjà en cours. Aucune nouvelle tâche n'a été lancée."


def start_undo_job(session: Session, actor: Actor, operation_id: int, window: timedelta = DEFAULT_UNDO_WINDOW) -> Job:
    """Take back a large operation as a job (admin_app/jobs/undo.py). What the undo would refuse whole now is
    refused here already (nothing started); the job checks again when it starts, and marks the operation."""
    operation = session.get(Operation, operation_id)
    if operation is None:
        raise ServiceError(NOT_FOUND)
    if problem := undo_problem(session, actor, operation, window):
        raise ServiceError(problem)
    if (twin := undo.open_job(session, operation.id)) is not None:
        raise UndoUnderWay(twin.id)
    job = runner.create(session, actor, JobKind.UNDO_OPERATION, undo.parameters(operation.id, window))
    return announce(session, job)


def init_app(app: Flask) -> None:
    backends.init_app(app)


__all__ = ["QUEUE_DOWN", "announce", "backends", "bulk", "export", "init_app", "runner", "start_bulk_job", "start_export_job",
           "start_undo_job", "undo", "UndoUnderWay"]
