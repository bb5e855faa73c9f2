"""Users of the portal and their grants on establishments."""

from __future__ import annotations

import enum
import secrets
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .base import Base, trigram_indexes, utcnow
from .habilitations import Habilitation, grant_habilitations
from .rules import clean_email, clean_phone
from .types import UTCDateTime

if TYPE_CHECKING:
    from .reference import Establishment


class Civility(enum.StrEnum):
    MR = "M."
    MRS = "Mme"


def new_session_token() -> str:
    """Return a fresh random token: changing it logs out every open session of the user."""
    return secrets.token_urlsafe(16)


def search_key(*parts: str | None) -> str:
    """Fold text for accent- and case-insensitive search ("Lùke" finds "Luke")."""
    text = " ".join(p for p in parts if p)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class User(Base):
    """Utilisateur: a person with a portal account (client user or back-office staff)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("civility in ('M.', 'Mme')", name="civility"),
        # The list's default order (NOM, Prénom, then id so pages never overlap) straight from an index.
        Index("ix_users_name", "last_name", "first_name", "id"),
        # The search box and the name filter look for a part of a word (LIKE '%martin%'): on PostgreSQL
        # trigram indexes answer that without reading the table (SQLite has no equivalent: it scans).
        *trigram_indexes("users", "search_text", "email"),
        # The list's exact count under "Mot de passe : oui / non" from an index alone, without reading the
        # table (docs/measurements.md); a password is set once, so these entries rarely move.
        Index("ix_users_with_password", "id", postgresql_where=text("password_hash IS NOT NULL"),
              sqlite_where=text("password_hash IS NOT NULL")),
        Index("ix_users_without_password", "id", postgresql_where=text("password_hash IS NULL"),
              sqlite_where=text("password_hash IS NULL")),
        # No index on `active`: (de)activating thousands of users then changes no indexed column, so PostgreSQL
        # rewrites each row in place (HOT) without touching any index, the trigram ones included: measured both
        # ways (docs/measurements.md), bulk (de)activation matters more than a faster "Actif" count.
        # Room in each page, for updates in place. On SQLite, AUTOINCREMENT: an id is never given twice (without
        # it a new row gets the highest id + 1, so the newest user deleted, the next one created would inherit
        # their operation items, which keep user_id without a foreign key). PostgreSQL's sequences never reuse.
        {"postgresql_with": {"fillfactor": 85}, "sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    civility: Mapped[str] = mapped_column(String(3))
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    job_title: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A new address asked for (from the profile, an administrator's edit, an approval) is only pending: the
    # account keeps `email` as its login and contact until the link sent to the new mailbox is used.
    pending_email: Mapped[str | None] = mapped_column(String(254))
    pending_email_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The address this account had before its address changed, kept for it (nobody else may take it) until
    # `previous_email_until`: its « ce n'était pas moi » link can then always give it back, however many
    # changes an intruder chained meanwhile.
    previous_email: Mapped[str | None] = mapped_column(String(254), index=True)
    previous_email_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    # Folded "last first" for the accent- and case-insensitive name filter and search.
    search_text: Mapped[str] = mapped_column(String(500), default="")
    # "Gérer son profil": whether this person gets an email when a request arrives for an establishment
    # whose users they administer (or, for staff, one that nobody administers).
    notify_requests: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Part of the login session id: renewed on deactivation or password change to end old sessions.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    # Renewed when a new email link is sent, so that older links stop working.
    link_nonce: Mapped[str] = mapped_column(String(32), default=new_session_token)

    grants: Mapped[list[Grant]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Grant.id",
    )

    __mapper_args__ = {"version_id_col": version}

    @validates("email")
    def _clean_email(self, _key: str, value: str) -> str:
        return clean_email(value)

    @validates("pending_email")
    def _clean_pending_email(self, _key: str, value: str | None) -> str | None:
        return None if value is None else clean_email(value)

    @validates("phone")
    def _clean_phone(self, _key: str, value: str) -> str:
        return clean_phone(value)

    @validates("last_name", "first_name")
    def _clean_name(self, key: str, value: str) -> str:
        value = " ".join((value or "").split())
        if key == "last_name":
            value = value.upper()  # NOM Prénom, as the guide writes names
        names = {"last_name": self.last_name, "first_name": self.first_name, key: value}
        self.search_text = search_key(names["last_name"], names["first_name"])
        return value

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name}"

    @property
    def primary_grant(self) -> Grant | None:
        return next((g for g in self.grants if g.is_primary), None)

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    # Flask-Login protocol, written out so that models stay free of Flask.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def __str__(self) -> str:
        return self.full_name


class Grant(Base):
    """Rattachement: one user attached to one establishment, with habilitation flags."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("user_id", "establishment_id", name="uq_grants_user_establishment"),
        # At most one primary establishment per user; a partial index both backends understand.
        Index(
            "uq_grants_one_primary",
            "user_id",
            unique=True,
            sqlite_where=text("is_primary"),
            postgresql_where=text("is_primary"),
        ),
        Index("ix_grants_establishment_user", "establishment_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishments.id", ondelete="RESTRICT"))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    manager: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    funding: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    apprenticeship: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sensitive_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    payments: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reporting: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    user_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="grants")
    establishment: Mapped[Establishment] = relationship(back_populates="grants")

    @property
    def habilitations(self) -> frozenset[Habilitation]:
        return grant_habilitations(self)

    def flags(self) -> dict[str, bool]:
        """Return the seven habilitation flags as stored."""
        return {h.value: bool(getattr(self, h.value)) for h in Habilitation}


def _attach_computed_columns() -> None:
    """Columns the lists show, computed in SQL so the list query loads them itself (no N+1).

    Deferred: they cost nothing unless a view asks for them with `undefer`.
    """
    from sqlalchemy import exists, func, select
    from sqlalchemy.orm import column_property, query_expression

    from .reference import Company, Establishment
    from .requests import AccountRequest

    AccountRequest.establishment_known = column_property(
        exists().where(Establishment.siret == AccountRequest.siret).correlate_except(Establishment), deferred=True
    )
    # What the users list shows depends on who looks (a delegated administrator sees only the grants of
    # their perimeter): the list fills these with the authority model's expressions (`with_expression`).
    User.is_manager = query_expression()
    User.primary_establishment = query_expression()

    Establishment.user_count = column_property(
        select(func.count(Grant.id)).where(Grant.establishment_id == Establishment.id).correlate_except(Grant).scalar_subquery(),
        deferred=True,
    )
    Company.user_count = column_property(
        select(func.count(func.distinct(Grant.user_id)))
        .join(Establishment, Establishment.id == Grant.establishment_id)
        .where(Establishment.company_id == Company.id)
        .correlate_except(Grant, Establishment)
        .scalar_subquery(),
        deferred=True,
    )
    Company.establishment_count = column_property(
        select(func.count(Establishment.id)).where(Establishment.company_id == Company.id).correlate_except(Establishment).scalar_subquery(),
        deferred=True,
    )


_attach_computed_columns()
