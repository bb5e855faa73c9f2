"""Companies and establishments: the staff's reference data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Company, Establishment, Grant
from models.rules import clean_siren, clean_siret, clean_text

from . import audit
from .common import Actor, ServiceError, checked, transaction
from .locks import decide_on


def _require_staff(session: Session, actor: Actor) -> None:
    decision = decide_on(session, actor).may_change_reference_data()
    if not decision:
        raise ServiceError(decision.reason)


def _text(data: dict[str, Any], name: str, label: str, max_length: int, required: bool = True) -> str:
    return checked(name, clean_text, data.get(name), label, max_length, required=required)


def _clean_company(session: Session, data: dict[str, Any], company_id: int | None) -> dict[str, Any]:
    name = _text(data, "name", "La raison sociale", 200)
    siren = checked("siren", clean_siren, data.get("siren") or "")
    taken = session.scalar(select(Company.id).where(Company.siren == siren, Company.id != (company_id or 0)))
    if taken:
        raise ServiceError("Une entreprise avec ce SIREN existe déjà.", field="siren")
    return {"name": name, "siren": siren}


def save_company(session: Session, actor: Actor, company: Company | None, data: dict[str, Any]) -> Company:
    """Create (company None) or update a company."""
    with transaction(session):
        _require_staff(session, actor)
        cleaned = _clean_company(session, data, company.id if company else None)
        if company is None:
            company = Company(**cleaned)
            session.add(company)
            session.flush()
            audit.record(session, actor, "company.create", "company", company.id, str(company), None, cleaned)
            return company
        if cleaned["siren"] != company.siren and company.establishments:
            raise ServiceError(
                "Le SIREN ne peut pas changer tant que l'entreprise a des établissements : "
                "leurs SIRET commencent par ce SIREN.",
                field="siren",
            )
        before = {"name": company.name, "siren": company.siren}
        company.name, company.siren = cleaned["name"], cleaned["siren"]
        old, new = audit.changes(before, cleaned)
        if new:
            audit.record(session, actor, "company.update", "company", company.id, str(company), old, new)
        return company


def _clean_establishment(session: Session, data: dict[str, Any], establishment_id: int | None) -> dict[str, Any]:
    company = data.get("company")
    if company is None:
        raise ServiceError("Choisissez l'entreprise de l'établissement.", field="company")
    name = _text(data, "name", "Le nom de l'établissement", 200)
    siret = checked("siret", clean_siret, data.get("siret") or "")
    if siret[:9] != company.siren:
        raise ServiceError(
            f"Le SIRET doit commencer par le SIREN de l'entreprise ({company.siren}).", field="siret"
        )
    taken = session.scalar(
        select(Establishment.id).where(Establishment.siret == siret, Establishment.id != (establishment_id or 0))
    )
    if taken:
        raise ServiceError("Un établissement avec ce SIRET existe déjà.", field="siret")
    postal_code = _text(data, "postal_code", "Le code postal", 10, required=False)
    city = _text(data, "city", "La ville", 100, required=False)
    return {"company": company, "name": name, "siret": siret, "postal_code": postal_code, "city": city}


def _establishment_values(cleaned: dict[str, Any]) -> dict[str, Any]:
    return {**cleaned, "company": str(cleaned["company"])}


def save_establishment(
    session: Session, actor: Actor, establishment: Establishment | None, data: dict[str, Any]
) -> Establishment:
    """Create (establishment None) or update an establishment."""
    with transaction(session):
        _require_staff(session, actor)
        cleaned = _clean_establishment(session, data, establishment.id if establishment else None)
        if establishment is None:
            establishment = Establishment(**cleaned)
            session.add(establishment)
            session.flush()
            audit.record(
                session, actor, "establishment.create", "establishment", establishment.id, establishment.label,
                None, _establishment_values(cleaned),
            )
            return establishment
        before = _establishment_values(
            {name: getattr(establishment, name) for name in ("company", "name", "siret", "postal_code", "city")}
        )
        for name, value in cleaned.items():
            setattr(establishment, name, value)
        old, new = audit.changes(before, _establishment_values(cleaned))
        if new:
            audit.record(session, actor, "establishment.update", "establishment", establishment.id, establishment.label, old, new)
        return establishment


def delete_establishment(session: Session, actor: Actor, establishment: Establishment) -> bool:
    """Delete an establishment nobody is attached to."""
    with transaction(session):
        _require_staff(session, actor)
        attached = session.scalar(select(func.count()).select_from(Grant).where(Grant.establishment_id == establishment.id))
        if attached:
            raise ServiceError(
                f"Impossible de supprimer l'établissement « {establishment.name} » : "
                f"{attached} utilisateur(s) y sont rattachés. Retirez d'abord ces rattachements."
            )
        audit.record(session, actor, "establishment.delete", "establishment", establishment.id, establishment.label)
        session.delete(establishment)
        return True


def delete_company(session: Session, actor: Actor, company: Company) -> bool:
    """Delete a company without establishments."""
    with transaction(session):
        _require_staff(session, actor)
        if company.establishments:
            raise ServiceError(
                f"Impossible de supprimer l'entreprise « {company.name} » : elle a encore des établissements."
            )
        audit.record(session, actor, "company.delete", "company", company.id, str(company))
        session.delete(company)
        return True
