"""Taking an operation back, at once (`undo`) or by a background job, a chunk of its users at a time.

`begin` makes the whole-operation decisions once: its author or staff, within the window, not already undone
(the conditional UPDATE that marks it undone is what keeps a replayed or simultaneous undo from running twice),
and opens the undo operation. `restore` then takes back a set of the operation's users: it locks them and the
actor and decides on them (services.locks.decide_on) in the caller's transaction, so a job's chunk decides on
the state it writes exactly as the synchronous undo does. The synchronous `undo` is `begin`, `restore` of every
user and the audit entry, in one transaction; a job (admin_app/jobs/undo.py) runs `begin` in its first
transaction, one `restore` per chunk, and writes the audit entry when it ends (operations.close).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from admin_app.authority import perimeter_of
from models import Operation, OperationItem, OperationKind, User, utcnow
from models.ids import in_ids
from models.operations import UNDO_HOURS

from . import operations
from .bulk import _protect_staff, state_values
from .common import Actor, ServiceError, transaction
from .locks import decide_on
from .operations import deleted_since

DEFAULT_UNDO_WINDOW = timedelta(hours=UNDO_HOURS)

NOT_FOUND = "Cette opération n'existe pas."
NOT_YOURS = "Seul son auteur, ou le staff, peut annuler cette opération. Aucun utilisateur n'a été modifié."
ALREADY_UNDONE = "Cette opération a déjà été annulée. Aucun utilisateur n'a été modifié."
DEFINITIVE = "Une suppression est définitive : elle ne peut pas être annulée."
UNDO_OF_UNDO = "Une annulation ne peut pas être annulée à son tour : refaites plutôt l'action voulue."
NOTHING_TO_UNDO = "Cette opération n'a modifié aucun utilisateur : il n'y a rien à annuler."
STILL_RUNNING = ("Cette opération est encore en cours : attendez la fin de sa tâche (ou annulez la tâche), "
                 "puis annulez l'opération. Aucun utilisateur n'a été modifié.")


def window(config: Mapping[str, Any]) -> timedelta:
    """The undo window the application is configured with (OPERATION_UNDO_HOURS)."""
    return timedelta(hours=float(config.get("OPERATION_UNDO_HOURS", UNDO_HOURS)))


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} h"


def expired_message(window: timedelta) -> str:
    return (f"Cette opération date de plus de {_hours(window)} : elle ne peut plus être annulée. "
            "Aucun utilisateur n'a été modifié.")


@dataclass(frozen=True)
class UndoResult:
    """What undoing did: users `restored`; left alone because `changed_since` or now `out_of_scope`."""

    operation_id: int  # the undo operation
    undone_id: int  # the operation taken back
    restored: int
    changed_since: int
    out_of_scope: int


@dataclass(frozen=True)
class Restored:
    """What one `restore` did: of `total` users, `restored`; `changed_since` and `out_of_scope` left alone."""

    total: int
    restored: int
    changed_since: int
    out_of_scope: int


def restores_active(operation: Operation) -> bool:
    """What `active` was before the operation, hence what its undo writes back."""
    return operation.operation_kind is OperationKind.DEACTIVATE


def changed_items(operation: Operation) -> tuple[Any, ...]:
    """The operation's items that changed a user and are not taken back yet."""
    item = OperationItem
    return (item.operation_id == operation.id, item.active_before != item.active_after, item.undone.is_(False))


def undo_problem(session: Session, actor: Actor, operation: Operation, window: timedelta = DEFAULT_UNDO_WINDOW) -> str | None:
    """Why `actor` may not undo `operation` now (French), or None if they may."""
    kind = operation.operation_kind
    if kind is OperationKind.DELETE:
        return DEFINITIVE
    if kind is OperationKind.UNDO:
        return UNDO_OF_UNDO
    if operation.undone_at is not None:
        return ALREADY_UNDONE
    if operation.running:
        return STILL_RUNNING
    if not perimeter_of(session, actor).may_follow(operation.actor_id):
        return NOT_YOURS
    if operation.created_at + window < utcnow():
        return expired_message(window)
    if operation.changed == 0:
        return NOTHING_TO_UNDO
    return None


def undo_deadline(operation: Operation, window: timedelta = DEFAULT_UNDO_WINDOW):
    return operation.created_at + window


def begin(session: Session, actor: Actor, operation_id: int, window: timedelta = DEFAULT_UNDO_WINDOW,
          job_id: int | None = None) -> tuple[Operation, Operation]:
    """Check and mark the operation undone, open its undo operation (a job's when `job_id`); returns both.
    Runs inside the caller's transaction; refused whole (ServiceError) when not allowed."""
    # The operation row locked to the end: two undos of the same operation run one after the other, and the
    # second sees the first's mark.
    operation = session.scalar(
        select(Operation).where(Operation.id == operation_id).with_for_update().execution_options(populate_existing=True)
    )
    if operation is None:
        raise ServiceError(NOT_FOUND)
    decide_on(session, actor)  # « its author or staff » asked of the actor as they are now, their row locked
    if problem := undo_problem(session, actor, operation, window):
        raise ServiceError(problem)
    # Marked undone first, only if nobody did meanwhile: where the row lock is a no-op (SQLite), this
    # conditional write is what makes a replayed or simultaneous undo fail instead of running twice.
    marked = session.execute(
        update(Operation).where(Operation.id == operation.id, Operation.undone_at.is_(None))
        .values(undone_at=utcnow(), undone_by_id=actor.id, undone_by_label=actor.label)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:
        raise ServiceError(ALREADY_UNDONE)
    scope = f"annulation de l'opération n° {operation.id} ({operations.summary(operation)})"
    undo_op = operations.start(session, actor, OperationKind.UNDO, scope, job_id)
    undo_op.undo_of_id = operation.id
    session.flush()
    return operation, undo_op


def release(session: Session, undo_op: Operation) -> None:
    """An undo job stopped before its first chunk (cancelled, failed): it took nobody back, so the operation is
    not marked undone any more (it may be undone again) and the empty undo operation goes, in the transaction
    that ends the job."""
    session.execute(
        update(Operation).where(Operation.id == undo_op.undo_of_id)
        .values(undone_at=None, undone_by_id=None, undone_by_label=None).execution_options(synchronize_session=False)
    )
    session.delete(undo_op)
    session.flush()


def refuse_before_job(session: Session, actor: Actor, operation: Operation) -> None:
    """What the synchronous undo would refuse whole (re-deactivating the actor, or the last active staff
    account), refused before a job's first chunk: such a job then changes nobody, as the synchronous undo.
    Read without locks: each chunk checks again under its own."""
    if not restores_active(operation):
        governed = ~perimeter_of(session, actor).ungoverned_users()
        _protect_staff(session, actor, select(User.id).where(_untouched(operation, ()), governed), "désactiver")


def _untouched(operation: Operation, within: tuple[Any, ...]) -> Any:
    """Users still as the operation left them: nobody changed them since (their version would have moved). And
    the very user it changed: never a newer account that merely got the id of a user deleted since (items keep
    their user_id without a foreign key; its version may well equal the one the operation left)."""
    item = OperationItem
    return exists().where(*changed_items(operation), *within, item.user_id == User.id,
                          item.version_after == User.version, ~deleted_since(operation.id + 1, User.id))


def restore(session: Session, actor: Actor, operation: Operation, undo_op: Operation,
            user_ids: Sequence[int] | None = None) -> Restored:
    """Take back the operation's users (those of `user_ids`, or all of them) that nobody changed since and that
    the actor governs now; add the counts to `undo_op` and its items. Runs inside the caller's transaction."""
    item = OperationItem
    within = () if user_ids is None else (in_ids(item.user_id, list(user_ids)),)
    restore_to = restores_active(operation)
    untouched = _untouched(operation, within)
    # The users locked (id order), then the actor, then the rule read afresh: see services.locks.
    targets = session.scalars(select(item.user_id).where(*changed_items(operation))) if user_ids is None else user_ids
    perimeter = decide_on(session, actor, targets)
    governed = ~perimeter.ungoverned_users()
    total = session.scalar(select(func.count()).select_from(item).where(*changed_items(operation), *within)) or 0
    out_of_scope = 0
    if not perimeter.unrestricted:
        out_of_scope = session.scalar(select(func.count()).select_from(User).where(untouched, ~governed)) or 0
    if not restore_to:
        _protect_staff(session, actor, select(User.id).where(untouched, governed), "désactiver")
    # Deactivated again: their sessions end and the links sent them are void, as any deactivation.
    values: dict[str, Any] = {**state_values(restore_to), "updated_at": utcnow()}
    restored = list(session.scalars(
        update(User).where(untouched, governed).values(**values).returning(User.id).execution_options(synchronize_session=False)
    ))
    if restored:
        session.execute(update(item).where(item.operation_id == operation.id, in_ids(item.user_id, restored))
                        .values(undone=True).execution_options(synchronize_session=False))
    operations.record_state_items(session, undo_op, restored, restore_to)
    changed_since = total - len(restored) - out_of_scope
    undo_op.requested += total
    undo_op.changed += len(restored)
    undo_op.unchanged += changed_since
    undo_op.refused += out_of_scope
    session.flush()
    return Restored(total, len(restored), changed_since, out_of_scope)


def undo(session: Session, actor: Actor, operation_id: int, window: timedelta = DEFAULT_UNDO_WINDOW) -> UndoResult:
    """Take back `operation_id` at once: restore the users it changed that nobody changed since and that the
    actor still governs; count the others. Refused whole (nothing changed) when not allowed."""
    with transaction(session):
        operation, undo_op = begin(session, actor, operation_id, window)
        done = restore(session, actor, operation, undo_op)
        operations.finish(session, actor, undo_op, requested=undo_op.requested, changed=undo_op.changed,
                          unchanged=undo_op.unchanged, active=restores_active(operation))
        session.flush()
        result = UndoResult(undo_op.id, operation.id, done.restored, done.changed_since, done.out_of_scope)
        session.expire_all()
        return result
