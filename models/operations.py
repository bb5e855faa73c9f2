"""Bulk operations: one record per bulk action (who, when, on what, what changed), and its users.

A bulk action on 15,000 users is one thing a person did: it is recorded once, with its counts, and
each user it touched gets an item saying what it changed and which version of the user it left, so
that the operation can be taken back exactly (and only where nobody changed the user since).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from .types import UTCDateTime

# How long, in hours, an operation may be taken back unless OPERATION_UNDO_HOURS says otherwise.
UNDO_HOURS = 24.0


class OperationKind(enum.StrEnum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    ACTIVATE_LINKS = "activate_links"  # activate, then send each user the link their state calls for
    DELETE = "delete"
    UNDO = "undo"  # taking back another operation: an operation of its own, audited like the others

    @property
    def label(self) -> str:
        """The noun of the Historique line: "Désactivation de 13 555 utilisateurs"."""
        return OPERATION_LABELS[self]

    @property
    def undoable(self) -> bool:
        # A deletion cannot be taken back (the rows are gone), nor can an undo (do the action again instead).
        return self in (OperationKind.ACTIVATE, OperationKind.DEACTIVATE, OperationKind.ACTIVATE_LINKS)


class OperationState(enum.StrEnum):
    """How far an operation run by a job got (a synchronous one has none: it is done when recorded)."""

    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"  # the job was cancelled: what its committed chunks did stays done
    FAILED = "failed"  # the job stopped on an error: likewise

    @property
    def label(self) -> str:
        return {"running": "en cours", "done": "terminée", "cancelled": "interrompue, tâche annulée",
                "failed": "interrompue, échec de la tâche"}[self.value]


OPERATION_LABELS = {
    OperationKind.ACTIVATE: "Activation",
    OperationKind.DEACTIVATE: "Désactivation",
    OperationKind.ACTIVATE_LINKS: "Activation avec envoi de lien",
    OperationKind.DELETE: "Suppression",
    OperationKind.UNDO: "Annulation",
}


class Operation(Base):
    """One bulk action (or the undoing of one): its author, its scope in words, and its counts."""

    __tablename__ = "operations"
    __table_args__ = (
        CheckConstraint("kind in ('activate', 'deactivate', 'activate_links', 'delete', 'undo')", name="kind"),
        Index("ix_operations_created", "created_at", "id"),
        Index("ix_operations_actor", "actor_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # NULL for the system, or once the author is deleted: the label keeps who it was.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(300), default="Système")
    ip: Mapped[str | None] = mapped_column(String(45))
    kind: Mapped[str] = mapped_column(String(20))
    # In French, as the list's filters read when it was done: "filtre : Dernière connexion : jamais connecté".
    scope: Mapped[str] = mapped_column(String(500), default="")
    requested: Mapped[int] = mapped_column(default=0)  # users the action was asked for (that existed)
    changed: Mapped[int] = mapped_column(default=0)  # users it changed (restored, for an undo)
    unchanged: Mapped[int] = mapped_column(default=0)  # already in that state (changed since, for an undo)
    refused: Mapped[int] = mapped_column(default=0)  # an undo only: users now outside the author's perimeter
    emails: Mapped[int] = mapped_column(default=0)  # links sent (activate_links)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    undone_by_label: Mapped[str | None] = mapped_column(String(300))
    undo_of_id: Mapped[int | None] = mapped_column(ForeignKey("operations.id", ondelete="SET NULL"), index=True)
    # An "every matching user" action past BULK_JOB_THRESHOLD runs as a background job, chunk by chunk: its
    # job, and its state (NULL: done at once, synchronously; else an OperationState). The counts grow with
    # each committed chunk; the one audit entry is written when the job ends, saying how it ended.
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    state: Mapped[str | None] = mapped_column(String(10))

    @property
    def operation_kind(self) -> OperationKind:
        return OperationKind(self.kind)

    @property
    def running(self) -> bool:
        return self.state == OperationState.RUNNING.value


class OperationItem(Base):
    """One user an operation touched: the state before and after, and the user's version it left."""

    __tablename__ = "operation_items"
    __table_args__ = (
        # A user's own history reads their items newest first.
        Index("ix_operation_items_user", "user_id", "operation_id"),
    )

    operation_id: Mapped[int] = mapped_column(ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True)
    # No foreign key: a deleted user's items stay, as the audit trail's entries do.
    user_id: Mapped[int] = mapped_column(primary_key=True)
    user_label: Mapped[str] = mapped_column(String(300), default="")
    active_before: Mapped[bool | None]
    active_after: Mapped[bool | None]
    # The user's version once the operation was done: an undo restores only users still at that version.
    version_after: Mapped[int | None]
    email_kind: Mapped[str | None] = mapped_column(String(30))  # the link sent, for activate_links
    undone: Mapped[bool] = mapped_column(default=False)

    @property
    def changed(self) -> bool:
        return self.active_before != self.active_after
