"""Starting and cancelling background jobs: the entry points the views, the CLI and scripts call.

`start_export_job` (the users list's export of every matching user), `start_bulk_job` (an action on every
matching user) and `start_undo_job` (taking back a large operation) refuse what they must, record a job (at most
MAX_OPEN_JOBS waiting or running per person) and hand it to the configured backend (`announce`: a job Redis
cannot take is withdrawn, never left to run later behind an error). `cancel` stops one. The machinery that runs
them (runner, backends, handlers) is admin_app/jobs/; docs/jobs.md says how it fits together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models import Job, JobKind, JobStatus, Operation, User, utcnow

from ..authority import REFUSED_NOT_ADMIN, Perimeter
from ..jobs import backends, bulk, export, runner, undo
from .common import Actor, ServiceError, transaction
from .locks import decide_on
from .undo import DEFAULT_UNDO_WINDOW, NOT_FOUND, undo_problem

QUEUE_DOWN = "La file des tâches est momentanément indisponible : rien n'a été fait, réessayez dans quelques minutes."
MAX_OPEN_JOBS = 3  # per person: a double click, or a dozen tabs, must not queue a dozen million-row exports
TOO_MANY = ("Vous avez déjà {n} tâches en attente ou en cours : attendez que l'une d'elles se termine "
            "(ou annulez-la) avant d'en lancer une autre.")
UNDO_UNDER_WAY = "L'annulation de cette opération est déjà en cours. Aucune nouvelle tâche n'a été lancée."
NOT_YOURS = "Seul son auteur, ou le staff, peut annuler cette tâche."


class UndoUnderWay(ServiceError):
    """An undo of this operation is already waiting or running: `job_id` names it; no second one was started."""

    def __init__(self, job_id: int) -> None:
        super().__init__(UNDO_UNDER_WAY)
        self.job_id = job_id


def create(session: Session, actor: Actor, kind: JobKind, parameters: dict) -> Job:
    """Record a new job (queued), within the per-person cap; the caller hands it to a backend once committed."""
    with transaction(session):
        if actor.id is not None:
            # Count then insert, one start at a time per person: the actor's row locked first, so parallel starts
            # (twelve tabs, a script) queue behind each other and each counts the jobs the previous one added.
            # FOR NO KEY UPDATE: it does not wait for the rows that merely reference the user (their audit, their
            # jobs). SQLite ignores it: it serialises writes anyway.
            session.execute(select(User.id).where(User.id == actor.id).with_for_update(key_share=True))
            open_jobs = session.scalar(select(func.count()).select_from(Job).where(
                Job.actor_id == actor.id, Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])))
            if open_jobs >= MAX_OPEN_JOBS:
                raise ServiceError(TOO_MANY.format(n=open_jobs))
        job = Job(kind=kind.value, actor_id=actor.id, actor_label=actor.label, actor_ip=actor.ip, parameters=parameters)
        session.add(job)
    return job


def withdraw(session: Session, job_id: int) -> bool:
    """Delete a job no worker has taken yet (its announcement failed); False if a worker took it meanwhile."""
    with transaction(session):
        gone = session.execute(
            delete(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value, Job.attempts == 0)
            .execution_options(synchronize_session=False)
        ).rowcount
    return gone == 1


def announce(session: Session, job: Job) -> Job:
    """Hand a committed job to the backend; if Redis cannot take it, withdraw the job and refuse (QUEUE_DOWN).

    Withdrawn rather than left waiting for the reaper: nobody knows when Redis comes back, and an action on
    30,000 users that starts hours later, once its author has moved on (or retried), is a surprise. So the
    answer is either the job's page (it runs) or « rien n'a été fait » (no job), and a retry starts one job."""
    if backends.enqueue(job):
        return job
    if withdraw(session, job.id):
        raise ServiceError(QUEUE_DOWN)
    return job  # a worker took it meanwhile (the message went through after all): it runs


def refuse_unless_admin(perimeter: Perimeter) -> None:
    """Jobs on the users list are for those who may open it."""
    if not perimeter.administers_users:
        raise ServiceError(REFUSED_NOT_ADMIN.reason)


def start_export_job(session: Session, actor: Actor, filter_args: Mapping[str, str], search: str | None = None) -> Job:
    """Export every user the list shows `actor` for these filters, as a job; returns it, queued."""
    refuse_unless_admin(decide_on(session, actor))
    job = create(session, actor, JobKind.EXPORT_USERS, export.parameters(filter_args, search))
    return announce(session, job)


def start_bulk_job(session: Session, actor: Actor, action: str, filter_args: Mapping[str, str], search: str | None = None) -> Job:
    """Apply a registered bulk action (admin_app.jobs.bulk.register_action) to every matching user, as a job."""
    refuse_unless_admin(decide_on(session, actor))
    job = create(session, actor, JobKind.BULK_USERS, bulk.parameters(action, filter_args, search))
    return announce(session, job)


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
    job = create(session, actor, JobKind.UNDO_OPERATION, undo.parameters(operation.id, window))
    return announce(session, job)


def cancel(session: Session, actor: Actor, job: Job) -> bool:
    """Cancel a waiting job at once; ask a running one to stop before its next chunk. False if already over.
    Its author and staff only, as they alone follow it."""
    with transaction(session):
        if not decide_on(session, actor).may_follow(job.actor_id):
            raise ServiceError(NOT_YOURS)
        waiting = session.execute(
            update(Job).where(Job.id == job.id, Job.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.CANCELLED.value, finished_at=utcnow(), error=runner.CANCELLED, cancel_requested=True)
        ).rowcount
        running = 0 if waiting else session.execute(
            update(Job).where(Job.id == job.id, Job.status == JobStatus.RUNNING.value).values(cancel_requested=True)
        ).rowcount
    return bool(waiting or running)
