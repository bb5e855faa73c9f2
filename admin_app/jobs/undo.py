"""`undo_operation`: take back an operation past BULK_JOB_THRESHOLD users, a chunk of its users at a time.

The job's first transaction (`prepare`) makes the whole-operation decisions, as the synchronous undo does
(services.undo.begin: its author or staff, within the window, not already undone, then marked undone) and
opens the undo operation. Each chunk restores the next users of the operation (keyset on the user id) through
services.undo.restore, which locks them and the actor and decides on them in the chunk's own transaction. The
undo operation's one audit entry is written when the job ends (done, cancelled or failed), saying what the
committed chunks restored and what they left alone (changed since, out of scope).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Job, JobKind, JobStatus, Operation, OperationItem
from models.operations import OperationState

from ..authority import Perimeter
from ..services import undo as undo_service
from ..services.common import Actor, ServiceError
from ..services.operations import close
from ..services.undo import DEFAULT_UNDO_WINDOW, UndoResult

OPERATION_GONE = "L'opération à annuler n'existe plus : la tâche a été arrêtée."
STOPPED_MIDWAY = ("La tâche s'est arrêtée : {reason} Les {done} utilisateurs des paquets précédents restent traités "
                  "(voir l'opération d'annulation).")


def parameters(operation_id: int, window: timedelta = DEFAULT_UNDO_WINDOW) -> dict:
    return {"operation": operation_id, "window_seconds": window.total_seconds()}


def open_job(session: Session, operation_id: int) -> Job | None:
    """An undo of this operation already waiting or running (a second click, another tab, another person)."""
    jobs = session.scalars(select(Job).where(
        Job.kind == JobKind.UNDO_OPERATION.value, Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])))
    return next((job for job in jobs if (job.parameters or {}).get("operation") == operation_id), None)


def result_of(job: Job, session: Session) -> UndoResult | None:
    """What an undo job did so far (its committed chunks), from its undo operation."""
    undo_op = session.get(Operation, (job.cursor or {}).get("operation") or 0)
    if undo_op is None:
        return None
    return UndoResult(undo_op.id, undo_op.undo_of_id or 0, undo_op.changed, undo_op.unchanged, undo_op.refused)


class UndoOperation:
    """The runner's handler for JobKind.UNDO_OPERATION."""

    def refusal(self, perimeter: Perimeter) -> str | None:
        return None  # users now outside the perimeter are counted and left alone, chunk by chunk, as at once

    def prepare(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter) -> None:
        parameters = job.parameters or {}
        window = timedelta(seconds=float(parameters.get("window_seconds") or DEFAULT_UNDO_WINDOW.total_seconds()))
        operation, undo_op = undo_service.begin(session, actor, int(parameters.get("operation") or 0), window, job.id)
        undo_service.refuse_before_job(session, actor, operation)
        job.total = session.scalar(
            select(func.count()).select_from(OperationItem).where(*undo_service.changed_items(operation))) or 0
        job.cursor = {"after": 0, "undoing": operation.id, "operation": undo_op.id}

    def chunk(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter, size: int) -> bool:
        cursor = dict(job.cursor or {})
        operation = session.get(Operation, cursor.get("undoing") or 0)
        undo_op = session.get(Operation, cursor.get("operation") or 0)
        if operation is None or undo_op is None:
            raise ServiceError(OPERATION_GONE)
        ids = list(session.scalars(
            select(OperationItem.user_id).where(*undo_service.changed_items(operation), OperationItem.user_id > cursor["after"])
            .order_by(OperationItem.user_id).limit(size)
        ))
        if not ids:
            return False
        try:
            undo_service.restore(session, actor, operation, undo_op, ids)
        except ServiceError as exc:
            # This chunk is refused whole (it would deactivate the actor, say); the chunks before it stay done.
            if job.done:
                raise ServiceError(STOPPED_MIDWAY.format(reason=exc.message, done=job.done)) from exc
            raise
        cursor["after"] = ids[-1]
        job.cursor = cursor
        job.done += len(ids)
        return True

    def finish(self, session: Session, job: Job) -> None:
        job.total = job.done
        self._close(session, job, OperationState.DONE)

    def discard(self, session: Session, job: Job) -> None:
        # The operation stays marked undone: what the committed chunks restored stays restored, and the undo
        # operation says how far it got (its state: interrupted).
        self._close(session, job, OperationState(job.status))

    def _close(self, session: Session, job: Job, state: OperationState) -> None:
        undo_op = session.get(Operation, (job.cursor or {}).get("operation") or 0)
        if undo_op is None or not undo_op.running:
            return
        if state is not OperationState.DONE and undo_op.requested == 0:
            undo_service.release(session, undo_op)  # stopped before its first chunk: nothing was taken back
            job.cursor = {**(job.cursor or {}), "operation": None}  # its id may be given to another one (SQLite)
        else:
            close(session, undo_op, state)
