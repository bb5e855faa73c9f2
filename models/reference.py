"""Companies and their establishments: the reference data grants point to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .base import Base
from .rules import clean_siren, clean_siret

if TYPE_CHECKING:
    from .accounts import Grant


class Company(Base):
    """Entreprise: a legal entity identified by its SIREN."""

    __tablename__ = "companies"
    __table_args__ = (
        # Target of the establishments' (company_id, siren) key: the SIREN part of a
        # SIRET must be its company's, and the database itself guarantees it.
        UniqueConstraint("id", "siren", name="uq_companies_id_siren"),
        CheckConstraint("length(siren) = 9", name="siren_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    siren: Mapped[str] = mapped_column(String(9), unique=True)

    establishments: Mapped[list[Establishment]] = relationship(
        back_populates="company", order_by="Establishment.name", passive_deletes=True
    )

    @validates("siren")
    def _clean_siren(self, _key: str, value: str) -> str:
        return clean_siren(value)

    def __str__(self) -> str:
        return f"{self.name} ({self.siren})"


class Establishment(Base):
    """Établissement: a site of a company, identified by its SIRET (SIREN + NIC)."""

    __tablename__ = "establishments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["company_id", "siren"],
            ["companies.id", "companies.siren"],
            name="fk_establishments_company",
            onupdate="CASCADE",
        ),
        CheckConstraint("length(siret) = 14", name="siret_length"),
        CheckConstraint("substr(siret, 1, 9) = siren", name="siret_in_siren"),
        Index("ix_establishments_company_name", "company_id", "name"),
        Index("ix_establishments_siren", "siren"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(index=True)
    siren: Mapped[str] = mapped_column(String(9))
    name: Mapped[str] = mapped_column(String(200), index=True)
    siret: Mapped[str] = mapped_column(String(14), unique=True)
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="")

    company: Mapped[Company] = relationship(back_populates="establishments")
    grants: Mapped[list[Grant]] = relationship(back_populates="establishment")

    @validates("siret")
    def _clean_siret(self, _key: str, value: str) -> str:
        siret = clean_siret(value)
        self.siren = siret[:9]
        return siret

    @property
    def label(self) -> str:
        """The guide's label: `Name – SIREN NIC – postal code City`."""
        place = " ".join(part for part in (self.postal_code, self.city) if part)
        label = f"{self.name} – {self.siret[:9]} {self.siret[9:]}"
        return f"{label} – {place}" if place else label

    def __str__(self) -> str:
        return self.label
