"""The generic chunk runner: take a job, do it chunk by chunk, each chunk one transaction with its progress.

A worker (an RQ worker, or the embedded thread) calls `run_job(job_id)`. It takes the job by a lease
(`worker`, `heartbeat_at`); every chunk starts by renewing that lease with an UPDATE that only the worker that
took it can make, which also locks the job's row until the chunk commits: a second worker can neither take the
job nor move its cursor while a chunk is under way. The chunk's work (rows written, audit entries, a file's
new length) and the job's new `cursor` and `done` are committed together, so a worker killed at any point
leaves the job exactly at the end of its last committed chunk, and the next worker resumes from there.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from models import Job, JobKind, JobStatus, User, utcnow

from ..authority import Perimeter, perimeter_of
from ..extensions import db
from ..services.common import Actor, ServiceError, transaction

log = logging.getLogger(__name__)

ACTOR_GONE = "Le compte qui a lancé cette tâche n'existe plus : elle a été arrêtée."
UNEXPECTED = "Une erreur inattendue a arrêté cette tâche. L'équipe technique a été prévenue ; relancez-la plus tard."
CANCELLED = "Annulée à la demande de l'utilisateur."


class LeaseLost(Exception):
    """Another worker took the job (this one was too slow, or taken for dead): stop without writing."""


class Handler(Protocol):
    """What a job kind supplies to the runner. Every method runs inside the chunk's transaction."""

    def refusal(self, perimeter: Perimeter) -> str | None:
        """Why the actor may no longer run this job (French), or None."""

    def prepare(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter) -> None:
        """First start only: count `job.total`, set the initial `job.cursor` (never None afterwards)."""

    def chunk(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter, size: int) -> bool:
        """Do the next chunk of at most `size` items and move `job.cursor` and `job.done`; False when none was left."""

    def finish(self, session: Session, job: Job) -> None:
        """The last chunk is done: set the result (a file's expiry, say), in the transaction that ends the job."""

    def discard(self, session: Session, job: Job) -> None:
        """Cancelled or failed (`job.status` says which): remove what is left of a partial result outside the
        database, or record how it ended, in the transaction that ends the job."""


HANDLERS: dict[JobKind, Handler] = {}


def register(kind: JobKind, handler: Handler) -> None:
    HANDLERS[kind] = handler


def worker_name() -> str:
    """This worker's name in the lease: host, process and thread (a process may run several threads)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 1_000_000}"


def take(session: Session, job_id: int, worker: str, lease: float) -> bool:
    """Take the job if it waits, or if the worker that took it has not renewed its lease for `lease` seconds (dead)."""
    now = utcnow()
    takeable = or_(
        Job.status == JobStatus.QUEUED.value,
        and_(Job.status == JobStatus.RUNNING.value, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - timedelta(seconds=lease))),
    )
    taken = session.execute(
        update(Job).where(Job.id == job_id, takeable).values(
            status=JobStatus.RUNNING.value, worker=worker, heartbeat_at=now, attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
        )
    ).rowcount
    session.commit()
    return taken == 1


@contextmanager
def renewing(session: Session, job_id: int, worker: str) -> Iterator[Job]:
    """One chunk's transaction: renew the lease (and lock the row), yield the job, commit with its progress."""
    with transaction(session):
        renewed = session.execute(
            update(Job).where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.RUNNING.value)
            .values(heartbeat_at=utcnow())
        ).rowcount
        if renewed != 1:
            raise LeaseLost
        yield session.get(Job, job_id, populate_existing=True)


def _end(session: Session, job_id: int, worker: str, status: JobStatus, error: str | None = None) -> None:
    """Close the job (its lease still ours), in a transaction of its own; if another worker took it meanwhile,
    that one decides how it ends."""
    try:
        with renewing(session, job_id, worker) as job:
            job.status = status.value
            job.error = error
            job.finished_at = utcnow()
            job.worker = None
            if status is not JobStatus.DONE:
                HANDLERS[JobKind(job.kind)].discard(session, job)
                job.result_path = None
    except LeaseLost:
        log.warning("job %s: lease lost by %s before it could end it", job_id, worker)


def run_job(job_id: int, worker: str | None = None) -> str | None:
    """Run (or resume) one job to its end; return its final status, or None when another worker has it."""
    session = db.session
    worker = worker or worker_name()
    if not take(session, job_id, worker, current_app.config["JOB_LEASE_SECONDS"]):
        session.rollback()
        return None
    size = max(1, int(current_app.config["JOB_CHUNK_SIZE"]))
    try:
        while True:
            with renewing(session, job_id, worker) as job:
                if job.cancel_requested:
                    break
                handler = HANDLERS[JobKind(job.kind)]
                actor = _actor(session, job)
                # The perimeter as it is now, at every chunk: rights lost meanwhile stop the job.
                perimeter = perimeter_of(session, actor)
                if reason := handler.refusal(perimeter):
                    raise ServiceError(reason)
                if job.cursor is None:
                    handler.prepare(session, job, actor, perimeter)
                    continue
                if not handler.chunk(session, job, actor, perimeter, size):
                    handler.finish(session, job)
                    job.status, job.finished_at, job.worker = JobStatus.DONE.value, utcnow(), None
                    return JobStatus.DONE.value
        _end(session, job_id, worker, JobStatus.CANCELLED, CANCELLED)
        return JobStatus.CANCELLED.value
    except LeaseLost:
        session.rollback()
        log.warning("job %s: lease lost by %s, another worker has it", job_id, worker)
        return None
    except ServiceError as exc:
        _end(session, job_id, worker, JobStatus.FAILED, exc.message)
        return JobStatus.FAILED.value
    except Exception:
        log.exception("job %s failed", job_id)
        session.rollback()
        _end(session, job_id, worker, JobStatus.FAILED, UNEXPECTED)
        return JobStatus.FAILED.value


def _actor(session: Session, job: Job) -> Actor:
    if job.actor_id is None:
        if job.actor_label != "Système":  # the account was deleted (the foreign key set NULL)
            raise ServiceError(ACTOR_GONE)
        return Actor()
    user = session.get(User, job.actor_id)
    if user is None:
        raise ServiceError(ACTOR_GONE)
    return Actor(user, job.actor_ip)


def resumable(session: Session, lease: float) -> list[int]:
    """Jobs a worker should (re)start: waiting ones, and running ones whose worker stopped renewing its lease."""
    stale = utcnow() - timedelta(seconds=lease)
    rows = session.scalars(
        select(Job.id).where(or_(
            Job.status == JobStatus.QUEUED.value,
            and_(Job.status == JobStatus.RUNNING.value, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale)),
        )).order_by(Job.id)
    ).all()
    session.rollback()
    return list(rows)
