"""`bulk_users`: one action (activate, deactivate...) on every matching user, a chunk of ids at a time.

Each chunk calls the action's service function with the chunk's ids inside the runner's transaction, so
the chunk's changes, their records and the job's progress are committed together (the services' own
`transaction()` joins the outer one).

The users screen's actions are `RecordedAction`s: the whole job is ONE operation
(admin_app.services.operations), opened by `prepare` (its scope in words, no counts, no audit entry yet);
each chunk adds its items (one per user changed, with the version it left) and its counts to it; the
operation's one audit entry is written when the job ends (done, cancelled or failed), in the transaction
that ends it, with the counts of the chunks that were committed: it says only what happened. A plain
callable `(session, actor, ids)` may be registered too (no operation): see docs/jobs.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from models import Job, Operation, OperationKind, User
from models.operations import OperationState

from ..authority import Perimeter
from ..services import bulk as bulk_service
from ..services import operations
from ..services.common import Actor, ServiceError
from ..services.operations import OperationResult
from .export import NO_LONGER_ADMIN, PERIMETER_CHANGED, criteria, fingerprint_of, recorded_fingerprint
from .export import parameters as list_parameters

# (session, actor, ids of one chunk) -> anything; raises ServiceError to refuse.
BulkAction = Callable[[Session, Actor, list[int]], object]


@dataclass(frozen=True)
class RecordedAction:
    """A bulk action recorded as one operation for the whole job."""

    kind: OperationKind
    # One chunk: (session, actor, ids, the job's operation) -> the chunk's counts.
    apply: Callable[[Session, Actor, list[int], Operation], OperationResult]
    # Before the first chunk, on every matching user at once: what the synchronous action refuses whole.
    check: Callable[[Session, Actor, Select], None] | None = None


ACTIONS: dict[str, BulkAction | RecordedAction] = {}
UNKNOWN_ACTION = "Cette action n'existe pas (ou plus) : la tâche a été arrêtée."
OPERATION_GONE = "L'opération de cette tâche n'existe plus : la tâche a été arrêtée."
STOPPED_MIDWAY = ("La tâche s'est arrêtée : {reason} Les {done} utilisateurs des paquets précédents restent traités "
                  "(voir l'opération, qui peut être annulée).")
COUNTS = ("requested", "changed", "unchanged", "emails")


def register_action(name: str, action: BulkAction | RecordedAction) -> None:
    ACTIONS[name] = action


def parameters(action: str, filter_args: Mapping[str, str], search: str | None = None) -> dict:
    return {"action": action, **list_parameters(filter_args, search)}


def result_of(job: Job) -> OperationResult | None:
    """What a recorded bulk job did so far (its committed chunks), with its operation's id while it is kept."""
    action = ACTIONS.get((job.parameters or {}).get("action", ""))
    cursor = job.cursor or {}
    if not isinstance(action, RecordedAction) or "counts" not in cursor:
        return None
    counts = cursor["counts"]
    return OperationResult(cursor.get("operation"), action.kind, counts["requested"], counts["changed"],
                           counts["unchanged"], counts["emails"])


class BulkUsers:
    """The runner's handler for JobKind.BULK_USERS: keyset on the id, so users the action takes out of
    the filter (deactivating "actif = oui") are neither skipped nor done twice."""

    def refusal(self, perimeter: Perimeter) -> str | None:
        return None if perimeter.administers_users else NO_LONGER_ADMIN

    def prepare(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter) -> None:
        action = ACTIONS.get(job.parameters.get("action", ""))
        if action is None:
            raise ServiceError(UNKNOWN_ACTION)
        where = criteria(job.parameters, perimeter)
        job.total = session.scalar(select(func.count()).select_from(User).where(*where)) or 0
        cursor: dict = {"after": 0, "fingerprint": fingerprint_of(perimeter)}
        if isinstance(action, RecordedAction):
            if action.check is not None:
                action.check(session, actor, select(User.id).where(*where))
            scope = bulk_service.scope_of_filter(job.parameters.get("filter") or {}, job.parameters.get("search") or "")
            operation = operations.start(session, actor, action.kind, scope, job.id)
            cursor.update(operation=operation.id, counts=dict.fromkeys(COUNTS, 0))
        job.cursor = cursor

    def chunk(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter, size: int) -> bool:
        cursor = dict(job.cursor or {})
        if recorded_fingerprint(job) != fingerprint_of(perimeter):
            raise ServiceError(PERIMETER_CHANGED)
        action = ACTIONS.get(job.parameters.get("action", ""))
        if action is None:
            raise ServiceError(UNKNOWN_ACTION)
        ids = list(session.scalars(
            select(User.id).where(*criteria(job.parameters, perimeter), User.id > cursor["after"]).order_by(User.id).limit(size)
        ))
        if not ids:
            return False
        done = job.done
        if isinstance(action, RecordedAction):
            operation = session.get(Operation, cursor.get("operation"))
            if operation is None:
                raise ServiceError(OPERATION_GONE)
            try:
                result = action.apply(session, actor, ids, operation)
            except ServiceError as exc:
                # A user that came into the filter meanwhile and that the actor may not govern, say: this chunk
                # is refused whole; the chunks before it stay done, and recorded.
                if done:
                    raise ServiceError(STOPPED_MIDWAY.format(reason=exc.message, done=done)) from exc
                raise
            counts = dict(cursor["counts"])
            for name in COUNTS:
                counts[name] += getattr(result, name)
            cursor["counts"] = counts
        else:
            action(session, actor, ids)
        cursor["after"] = ids[-1]
        job.cursor = cursor
        job.done = done + len(ids)
        return True

    def finish(self, session: Session, job: Job) -> None:
        job.total = job.done
        self._close(session, job, OperationState.DONE)

    def discard(self, session: Session, job: Job) -> None:
        # Every committed chunk stays done (and recorded): a cancel stops the rest. The operation says so.
        self._close(session, job, OperationState(job.status))  # cancelled or failed

    def _close(self, session: Session, job: Job, state: OperationState) -> None:
        cursor = dict(job.cursor or {})
        operation = session.get(Operation, cursor["operation"]) if cursor.get("operation") else None
        if operation is None or not operation.running:
            return
        if not operations.close(session, operation, state):
            cursor["operation"] = None  # it changed nothing: not recorded, as a synchronous action
            job.cursor = cursor


def _register_user_actions() -> None:
    """The users screen's "every matching user" actions, each one operation for the whole job."""
    register_action("activate", RecordedAction(
        OperationKind.ACTIVATE,
        lambda session, actor, ids, op: bulk_service.set_active(session, actor, ids, True, operation=op),
        lambda session, actor, ids: bulk_service.refuse_before_job(session, actor, ids, True)))
    register_action("deactivate", RecordedAction(
        OperationKind.DEACTIVATE,
        lambda session, actor, ids, op: bulk_service.set_active(session, actor, ids, False, operation=op),
        lambda session, actor, ids: bulk_service.refuse_before_job(session, actor, ids, False)))
    register_action("activate_links", RecordedAction(
        OperationKind.ACTIVATE_LINKS,
        lambda session, actor, ids, op: bulk_service.activate_and_send_links(session, actor, ids, operation=op),
        lambda session, actor, ids: bulk_service.refuse_before_job(session, actor, ids, True)))


_register_user_actions()
