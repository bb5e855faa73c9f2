"""Background jobs: long actions (exports, bulk changes) run in chunks by a worker, their truth here."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from .types import UTCDateTime


class JobKind(enum.StrEnum):
    EXPORT_USERS = "export_users"  # the users list's CSV export, every matching user
    BULK_USERS = "bulk_users"  # an action (activate, deactivate...) on every matching user
    UNDO_OPERATION = "undo_operation"  # taking back an operation past BULK_JOB_THRESHOLD users

    @property
    def label(self) -> str:
        return {"export_users": "Export des utilisateurs (CSV)", "bulk_users": "Action sur les utilisateurs",
                "undo_operation": "Annulation d'une opération"}[self.value]


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {"queued": "En attente", "running": "En cours", "done": "Terminé", "failed": "Échec",
                "cancelled": "Annulé"}[self.value]

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(Base):
    """One long action. A worker holds it by a lease (`worker`, `heartbeat_at`) and moves `cursor` and
    `done` forward in the same transaction as each chunk's work: after a crash, the next worker starts
    right after the last committed chunk, and no chunk is done twice."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"),
        Index("ix_jobs_actor", "actor_id", "created_at"),
        Index("ix_jobs_status", "status", "heartbeat_at"),  # the reaper's question: whose lease ran out?
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    # NULL for the system; the label says who asked even after the account is gone.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(300), default="Système")
    actor_ip: Mapped[str | None] = mapped_column(String(45))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the list's filter args, the action
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED.value)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    # Where the last committed chunk ended: the keyset position, and for a file the bytes it holds.
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker: Mapped[str | None] = mapped_column(String(64))  # who holds the lease
    attempts: Mapped[int] = mapped_column(default=0)  # how many times a worker took it (2+: resumed)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)  # French, shown as is
    result_path: Mapped[str | None] = mapped_column(String(500))  # the export's file, relative to EXPORT_DIR
    result_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def status_label(self) -> str:
        return JobStatus(self.status).label

    @property
    def kind_label(self) -> str:
        return JobKind(self.kind).label

    @property
    def is_finished(self) -> bool:
        return JobStatus(self.status).finished
