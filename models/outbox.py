"""The transactional outbox: emails written with the change that causes them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from .types import UTCDateTime


class EmailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt

    @property
    def label(self) -> str:
        return {"pending": "En attente", "sent": "Envoyé", "failed": "Échec"}[self.value]


class EmailKind(enum.StrEnum):
    """What an email is for: its template (templates/email/<kind>.*) and, in French, the Emails screen's word."""

    VERIFY_EMAIL = "verify_email"
    # Not a secret (B105): an email kind, not a password.
    SET_PASSWORD = "set_password"  # nosec B105
    REQUEST_RECEIVED = "request_received"
    REQUEST_REFUSED = "request_refused"
    REQUEST_NOTIFICATION = "request_notification"
    CONFIRM_ATTACHMENT = "confirm_attachment"
    CONFIRM_EMAIL_CHANGE = "confirm_email_change"
    EMAIL_CHANGE_NOTICE = "email_change_notice"

    @property
    def label(self) -> str:
        return EMAIL_KIND_LABELS[self]


EMAIL_KIND_LABELS: dict[EmailKind, str] = {
    EmailKind.VERIFY_EMAIL: "Validation de l'adresse",
    EmailKind.SET_PASSWORD: "Création du mot de passe",
    EmailKind.REQUEST_RECEIVED: "Demande reçue",
    EmailKind.REQUEST_REFUSED: "Demande refusée",
    EmailKind.REQUEST_NOTIFICATION: "Nouvelle demande à traiter",
    EmailKind.CONFIRM_ATTACHMENT: "Confirmation d'un rattachement",
    EmailKind.CONFIRM_EMAIL_CHANGE: "Confirmation d'une nouvelle adresse",
    EmailKind.EMAIL_CHANGE_NOTICE: "Avis de changement d'adresse",
}


def email_kind_label(kind: str) -> str:
    """The French word of a stored kind (a kind no longer known is shown as stored)."""
    try:
        return EmailKind(kind).label
    except ValueError:
        return kind


class OutboundEmail(Base):
    """An email queued in the same transaction as its cause, delivered by `send-mail`."""

    __tablename__ = "outbound_emails"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'sent', 'failed')", name="status"),
        Index("ix_outbound_emails_due", "status", "next_attempt_at"),
        Index("ix_outbound_emails_recipient", "recipient"),
        Index("ix_outbound_emails_created", "created_at", "id"),  # the list's order, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(10), default=EmailStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set by the worker that claimed the row, so that two live workers do not send it twice. The claim
    # is a lease (MAIL_CLAIM_LEASE), renewed before each send: once it runs out, the worker is taken
    # for dead and another one sends the email again, with the same Message-ID (at least once).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def status_label(self) -> str:
        return EmailStatus(self.status).label


class OutboundEmailRequest(Base):
    """The account requests a notification email lists: several requests to one person within minutes
    share one email, re-rendered with each new one while no worker has claimed it."""

    __tablename__ = "outbound_email_requests"

    email_id: Mapped[int] = mapped_column(ForeignKey("outbound_emails.id", ondelete="CASCADE"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("account_requests.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)
