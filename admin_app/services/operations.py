"""Bulk actions as operations: record one per bulk action, and take one back exactly.

An operation says what a person did once (« Désactivation de 13 555 utilisateurs — filtre : … »), with
its counts; its items say, user by user, the state before and after and the user's version it left.
Undoing restores exactly the users it changed that nobody changed since (their version is still the
one it left), among those the undoer still governs; the undo is an operation of its own, audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Select,
    bindparam,
    exists,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session, aliased

from models import Operation, OperationItem, OperationKind, User
from models.ids import in_ids
from models.operations import OperationState
from models.wording import plural, user_label_sql

from . import audit
from .common import Actor

# The audit action of each kind's one Historique line (admin_app.filters.AUDIT_ACTIONS names them).
AUDIT_ACTIONS = {
    OperationKind.ACTIVATE: "user.activate",
    OperationKind.DEACTIVATE: "user.deactivate",
    OperationKind.ACTIVATE_LINKS: "user.activate_links",
    OperationKind.DELETE: "user.delete",
    OperationKind.UNDO: "operation.undo",
}

@dataclass(frozen=True)
class OperationResult:
    """What a bulk action did: `changed` users, `unchanged` ones already in that state, links sent."""

    operation_id: int | None  # None when nothing happened (nothing recorded)
    kind: OperationKind
    requested: int
    changed: int
    unchanged: int
    emails: int = 0

    def __bool__(self) -> bool:
        # Truthy when it changed something, as the count it replaces was.
        return self.changed > 0


def users_phrase(count: int) -> str:
    return plural(count, "utilisateur", "utilisateurs")


def summary(operation: Operation) -> str:
    """The operation's one line in Historique: « Désactivation de 13 555 utilisateurs — filtre : … »."""
    kind = operation.operation_kind
    if kind is OperationKind.UNDO:
        text = f"Annulation de l'opération n° {operation.undo_of_id} : {plural(operation.changed, 'utilisateur rétabli', 'utilisateurs rétablis')}"
    else:
        text = f"{kind.label} de {users_phrase(operation.changed)}"
        if kind is OperationKind.ACTIVATE_LINKS:
            text = f"Activation de {users_phrase(operation.changed)} et envoi de {plural(operation.emails, 'lien', 'liens')}"
        text = f"{text} — {operation.scope}" if operation.scope else text
    if operation.state is not None and operation.state != OperationState.DONE.value:
        text += f" ({OperationState(operation.state).label})"  # run by a job not (or never to be) done
    return text


def default_scope(session: Session, ids: Sequence[int] | Any) -> str:
    """The scope in words when the caller gave none: the one user's name, or the selection's size."""
    if not isinstance(ids, Sequence):
        return "tous les utilisateurs correspondants"
    if len(ids) == 1:
        label = session.scalar(select(user_label_sql()).where(User.id == int(ids[0])))
        if label:
            return label
    return f"sélection de {users_phrase(len(ids))}"


def record(
    session: Session, actor: Actor, kind: OperationKind, scope: str, *, requested: int, changed: int,
    unchanged: int, emails: int = 0, refused: int = 0, undo_of: Operation | None = None, active: bool | None = None,
) -> Operation:
    """Add the operation and its one audit entry (committed with the change it describes).

    The entry reads like a user's change ("Actif : Oui → Non" when `active` is given), followed by the counts.
    """
    operation = Operation(
        actor_id=actor.id, actor_label=actor.label, ip=actor.ip, kind=kind.value, scope=scope[:500],
        requested=requested, changed=changed, unchanged=unchanged, emails=emails, refused=refused,
        undo_of_id=undo_of.id if undo_of is not None else None,
    )
    session.add(operation)
    session.flush()  # its id, for the items and the audit entry
    _audit(session, actor, operation, active)
    return operation


def _audit(session: Session, actor: Any, operation: Operation, active: bool | None) -> None:
    """The operation's one Historique line, with its counts; its label (`summary`) says how a job's ended."""
    kind, requested, changed, unchanged = operation.operation_kind, operation.requested, operation.changed, operation.unchanged
    emails, refused = operation.emails, operation.refused
    if kind is OperationKind.UNDO:
        # The users left alone are said only when there are some: a plain undo reads "Rétablis : 25".
        counts = {"restored": changed, **({"changed_since": unchanged} if unchanged else {}),
                  **({"out_of_scope": refused} if refused else {})}
    else:
        counts = {"requested": requested, "changed": changed, "unchanged": unchanged}
        if kind is OperationKind.ACTIVATE_LINKS:
            counts["emails"] = emails
    before, after = (None, counts) if active is None else ({"active": not active}, {"active": active, **counts})
    audit.record(session, actor, AUDIT_ACTIONS[kind], "operation", operation.id, summary(operation)[:300], before, after)


# --- an operation written in steps: a job's, chunk by chunk; an activation's, its items first ----------------

@dataclass(frozen=True)
class Author:
    """Who an operation's audit entry names when the job ends (the author, read from the operation)."""

    id: int | None
    label: str
    ip: str | None


def start(session: Session, actor: Actor, kind: OperationKind, scope: str, job_id: int | None = None) -> Operation:
    """An operation before its items: no counts yet, no audit entry yet. A job's (`job_id`) gets its counts
    chunk by chunk (`add_chunk`) and its audit entry when it ends (`close`); a synchronous one, once its
    items are written, from `finish` (or it is `discard`ed, having changed nobody)."""
    operation = Operation(actor_id=actor.id, actor_label=actor.label, ip=actor.ip, kind=kind.value, scope=scope[:500],
                          requested=0, changed=0, unchanged=0, emails=0, refused=0, job_id=job_id,
                          state=OperationState.RUNNING.value if job_id is not None else None)
    session.add(operation)
    session.flush()  # its id, for the items
    return operation


def finish(session: Session, actor: Actor, operation: Operation, *, requested: int, changed: int, unchanged: int,
           active: bool) -> None:
    """A synchronous activation or deactivation's counts and its one audit entry, once its items are written."""
    operation.requested, operation.changed, operation.unchanged = requested, changed, unchanged
    _audit(session, actor, operation, active)


def discard(session: Session, operation: Operation) -> None:
    """A started operation that changed nobody: not recorded (as `record` is not called then)."""
    session.delete(operation)
    session.flush()


def add_chunk(session: Session, operation: Operation, *, requested: int, changed: int, unchanged: int, emails: int = 0) -> None:
    """One committed chunk's counts, added in the chunk's transaction (its items are added beside)."""
    operation.requested += requested
    operation.changed += changed
    operation.unchanged += unchanged
    operation.emails += emails
    session.flush()


def close(session: Session, operation: Operation, state: OperationState) -> bool:
    """The job ended (done, cancelled, failed): write the operation's one audit entry, saying only what its
    committed chunks did, in the transaction that ends the job. An operation that changed nothing and sent
    nothing is removed, as a synchronous one would not have been recorded; returns whether it is kept."""
    operation.state = state.value
    kind = operation.operation_kind
    # An undo is kept even when it restored nobody, as a synchronous one is: the operation it took back is marked
    # undone, and this one says why nobody was restored (changed since, out of scope).
    if kind is not OperationKind.UNDO and operation.changed == 0 and operation.emails == 0:
        session.delete(operation)
        session.flush()
        return False
    active = {OperationKind.ACTIVATE: True, OperationKind.DEACTIVATE: False, OperationKind.ACTIVATE_LINKS: True}.get(kind)
    if kind is OperationKind.UNDO:
        undone = session.get(Operation, operation.undo_of_id) if operation.undo_of_id else None
        active = undone is not None and undone.operation_kind is OperationKind.DEACTIVATE
    _audit(session, Author(operation.actor_id, operation.actor_label, operation.ip), operation, active)
    session.flush()
    return True


def record_flips(session: Session, operation: Operation, batch: ColumnElement[bool], active_after: bool) -> int:
    """One item per user of `batch` whose `active` flag is not yet `active_after`, with the version the flip
    will leave, in one INSERT ... SELECT; returns how many. The caller has locked the batch's users
    (admin_app.services.bulk) and then flips exactly the users these items name, in the same transaction.

    Recorded before the change rather than from its RETURNING: 5,000 ids are then neither read into Python
    nor bound again."""
    rows = (
        select(literal(operation.id, Integer()), User.id, user_label_sql(), literal(not active_after, Boolean()),
               literal(active_after, Boolean()), User.version + 1, literal(False, Boolean()))
        .where(batch, User.active.is_not(active_after))
    )
    columns = ["operation_id", "user_id", "user_label", "active_before", "active_after", "version_after", "undone"]
    # SQLAlchemy keeps an INSERT's rowcount only when asked (else -1 on PostgreSQL).
    statement = insert(OperationItem).from_select(columns, rows).execution_options(preserve_rowcount=True)
    return session.connection().execute(statement).rowcount


def record_state_items(session: Session, operation: Operation, user_ids: Iterable[int], active_after: bool) -> None:
    """One item per user whose `active` flag this operation flipped, written by the database in one
    INSERT ... SELECT (set-based: 13,000 users go through no Python loop), with the version it left."""
    rows = select(
        literal(operation.id, Integer()), User.id, user_label_sql(), literal(not active_after, Boolean()),
        literal(active_after, Boolean()), User.version, literal(False, Boolean()),
    ).where(in_ids(User.id, list(user_ids)))
    columns = ["operation_id", "user_id", "user_label", "active_before", "active_after", "version_after", "undone"]
    session.execute(insert(OperationItem).from_select(columns, rows))


def record_items(session: Session, operation: Operation, items: list[dict[str, Any]]) -> None:
    """Items given row by row (deletions, invitations): one multi-row INSERT."""
    if items:
        session.execute(insert(OperationItem), [{"operation_id": operation.id, "undone": False, **item} for item in items])


def deleted_since(operation_id: Any, user_id: Any) -> ColumnElement[bool]:
    """Whether a user with this id was deleted by `operation_id` or after it (every deletion is an operation with
    one item per user deleted). Then whoever holds the id now is somebody else: an item keeps its user_id without
    a foreign key, and an id can come back (SQLite before AUTOINCREMENT: highest id + 1)."""
    deletion = aliased(Operation)
    deleted = aliased(OperationItem)
    return exists().where(deleted.user_id == user_id, deleted.operation_id == deletion.id,
                          deletion.kind == OperationKind.DELETE.value, deletion.id >= operation_id)


def _user_items_statement() -> Select:
    """The statement of `user_items`, the user id and the limit bound at each call (built once: a user's
    details page asks it every time, and building it is not free: docs/measurements.md)."""
    user_id = bindparam("user_id", type_=Integer())
    return (
        select(Operation, OperationItem).join(OperationItem, OperationItem.operation_id == Operation.id)
        .where(OperationItem.user_id == user_id, ~deleted_since(Operation.id, user_id))
        .order_by(Operation.created_at.desc(), Operation.id.desc()).limit(bindparam("limit", type_=Integer()))
    )


_USER_ITEMS = _user_items_statement()


def user_items(session: Session, user_id: int, limit: int = 50) -> list[tuple[Operation, OperationItem]]:
    """The operations that touched one user, newest first (for that user's own history): never those of a deleted
    user whose id a newer account got (their deletion, and all before it)."""
    rows = session.execute(_USER_ITEMS, {"user_id": user_id, "limit": limit}).all()
    return [(op, it) for op, it in rows]
