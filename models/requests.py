"""Account creation requests sent from the public form."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .base import Base, utcnow
from .rules import clean_email, clean_siret
from .types import UTCDateTime

if TYPE_CHECKING:
    from .accounts import User


class RequestKind(enum.StrEnum):
    OPENING = "opening"  # Ouverture: the email has no account yet
    ATTACHMENT = "attachment"  # Rattachement: one more establishment for an existing account

    @property
    def label(self) -> str:
        return {"opening": "Ouverture", "attachment": "Rattachement"}[self.value]


class RequestStatus(enum.StrEnum):
    # A claim on an existing account, filed by someone not logged in as its holder: it waits for the holder
    # to confirm it from their mailbox, and nobody sees or decides it until then.
    UNCONFIRMED = "unconfirmed"
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return {"unconfirmed": "À confirmer", "pending": "En cours", "approved": "Validée", "refused": "Refusée"}[self.value]


class AccountRequest(Base):
    """Demande de création de compte."""

    __tablename__ = "account_requests"
    __table_args__ = (
        CheckConstraint("kind in ('opening', 'attachment')", name="kind"),
        CheckConstraint("status in ('unconfirmed', 'pending', 'approved', 'refused')", name="status"),
        CheckConstraint("civility in ('M.', 'Mme')", name="civility"),
        Index("ix_account_requests_status_requested", "status", "requested_at"),
        Index("ix_account_requests_requested", "requested_at", "id"),  # the tab's order when every status is shown
        Index("ix_account_requests_siret", "siret"),
        Index("ix_account_requests_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    civility: Mapped[str] = mapped_column(String(3))
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(20))
    job_title: Mapped[str | None] = mapped_column(String(200))
    company_name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str] = mapped_column(String(14))
    kind: Mapped[str] = mapped_column(String(12), default=RequestKind.OPENING.value)
    status: Mapped[str] = mapped_column(String(11), default=RequestStatus.PENDING.value)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    @validates("email")
    def _clean_email(self, _key: str, value: str) -> str:
        return clean_email(value)

    @validates("last_name", "first_name")
    def _clean_name(self, key: str, value: str) -> str:
        value = " ".join((value or "").split())
        return value.upper() if key == "last_name" else value  # NOM Prénom, as for users

    @validates("siret")
    def _clean_siret(self, _key: str, value: str) -> str:
        return clean_siret(value)

    @property
    def kind_label(self) -> str:
        return RequestKind(self.kind).label

    @property
    def status_label(self) -> str:
        return RequestStatus(self.status).label

    def __str__(self) -> str:
        return f"{self.last_name} {self.first_name} ({self.kind_label})"
