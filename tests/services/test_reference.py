"""The reference-data service called directly: companies and establishments created, changed and
deleted, each change checked in the database with its audit entry; each refusal leaves nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select
from stdnum import luhn

from admin_app.services import SYSTEM_ACTOR, ServiceError, reference
from models import AuditEvent, Company, Establishment, Habilitation

from . import factories as f
from .factories import count, events


def siret_of(company: Company, nic: str) -> str:
    """A valid SIRET of `company` with the NIC `nic` (4 digits + the check digit)."""
    return company.siren + nic + luhn.calc_check_digit(company.siren + nic)


def snapshot(session) -> tuple:
    session.expire_all()
    companies = sorted((c.id, c.name, c.siren) for c in session.scalars(select(Company)))
    establishments = sorted((e.id, e.company_id, e.siren, e.name, e.siret, e.postal_code, e.city)
                            for e in session.scalars(select(Establishment)))
    return companies, establishments, count(session, AuditEvent)


@pytest.fixture
def cast(session):
    """ONE with A (where someone is attached) and B (where nobody is); EMPTY without establishment; staff."""
    one, empty = f.company(session, "ONE"), f.company(session, "EMPTY")
    a, b = f.establishment(session, one, "A"), f.establishment(session, one, "B")
    staff = f.user(session, staff=True)
    attached = f.user(session, [(a, [Habilitation.REPORTING])])
    session.commit()
    return SimpleNamespace(one=one, empty=empty, a=a, b=b, staff=staff, attached=attached, actor=f.actor(staff))


# --- companies ------------------------------------------------------------------------------------

def test_a_company_is_created_cleaned_and_audited(session, cast):
    company = reference.save_company(session, cast.actor, None, {"name": "  Alliance   Rebelle ", "siren": "732 829 320"})
    session.expire_all()
    stored = session.get(Company, company.id)
    assert (stored.name, stored.siren) == ("Alliance Rebelle", "732829320")
    (created,) = events(session, "company.create")
    assert (created.actor_id, created.target_type, created.target_id) == (cast.staff.id, "company", company.id)
    assert created.target_label == "Alliance Rebelle (732829320)"
    assert (created.before, created.after) == (None, {"name": "Alliance Rebelle", "siren": "732829320"})


def test_a_company_update_records_only_what_changed(session, cast):
    old_name = cast.one.name
    reference.save_company(session, cast.actor, cast.one, {"name": "ONE Group", "siren": cast.one.siren})
    session.expire_all()
    assert session.get(Company, cast.one.id).name == "ONE Group"
    (updated,) = events(session, "company.update")
    assert (updated.target_id, updated.before, updated.after) == (cast.one.id, {"name": old_name}, {"name": "ONE Group"})

    reference.save_company(session, cast.actor, cast.one, {"name": "ONE Group", "siren": cast.one.siren})
    assert len(events(session)) == 1  # nothing changed, nothing recorded


def test_the_siren_of_a_company_without_establishments_may_change(session, cast):
    old = cast.empty.siren
    reference.save_company(session, cast.actor, cast.empty, {"name": cast.empty.name, "siren": "732829320"})
    session.expire_all()
    assert session.get(Company, cast.empty.id).siren == "732829320"
    (updated,) = events(session, "company.update")
    assert (updated.before, updated.after) == ({"siren": old}, {"siren": "732829320"})


@pytest.mark.parametrize("target, data, field, message", [
    (None, {"name": "", "siren": "732829320"}, "name", "La raison sociale"),
    (None, {"name": "X", "siren": "12345"}, "siren", "Le SIREN doit comporter 9 chiffres."),
    (None, {"name": "X", "siren": "732829321"}, "siren", "Ce SIREN n'est pas valide (clé de contrôle incorrecte)."),
    (None, {"name": "X", "siren": "one"}, "siren", "Une entreprise avec ce SIREN existe déjà."),
    ("empty", {"name": "X", "siren": "one"}, "siren", "Une entreprise avec ce SIREN existe déjà."),
    ("one", {"name": "X", "siren": "732829320"}, "siren", "Le SIREN ne peut pas changer tant que l'entreprise a des établissements"),
])
def test_a_refused_company_change_leaves_nothing(session, cast, target, data, field, message):
    data = {**data, "siren": cast.one.siren if data["siren"] == "one" else data["siren"]}
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        reference.save_company(session, cast.actor, getattr(cast, target) if target else None, data)
    assert refused.value.field == field and message in refused.value.message
    assert snapshot(session) == before


def test_a_company_without_establishments_is_deleted_and_audited(session, cast):
    company_id, label = cast.empty.id, str(cast.empty)
    assert reference.delete_company(session, SYSTEM_ACTOR, cast.empty) is True
    session.expire_all()
    assert session.get(Company, company_id) is None
    (deleted,) = events(session, "company.delete")
    assert (deleted.actor_id, deleted.actor_label, deleted.target_id, deleted.target_label) == (None, "Système", company_id, label)


def test_a_company_with_establishments_is_not_deleted(session, cast):
    before = snapshot(session)
    with pytest.raises(ServiceError, match="elle a encore des établissements"):
        reference.delete_company(session, cast.actor, cast.one)
    assert snapshot(session) == before


# --- establishments -------------------------------------------------------------------------------

def test_an_establishment_is_created_in_its_company_and_audited(session, cast):
    siret = siret_of(cast.one, "0420")
    spaced = f"{siret[:9]} {siret[9:]}"
    made = reference.save_establishment(session, cast.actor, None, {
        "company": cast.one, "name": " Base   Echo ", "siret": spaced, "postal_code": "75002", "city": "Hoth"})
    session.expire_all()
    stored = session.get(Establishment, made.id)
    assert (stored.company_id, stored.siren, stored.siret, stored.name, stored.postal_code, stored.city) == \
        (cast.one.id, cast.one.siren, siret, "Base Echo", "75002", "Hoth")
    (created,) = events(session, "establishment.create")
    assert (created.target_type, created.target_id, created.target_label) == ("establishment", made.id, stored.label)
    assert created.before is None
    assert created.after == {"company": str(cast.one), "name": "Base Echo", "siret": siret, "postal_code": "75002", "city": "Hoth"}


def test_an_establishment_update_records_only_what_changed(session, cast):
    old = (cast.b.name, cast.b.city)
    reference.save_establishment(session, cast.actor, cast.b, {
        "company": cast.one, "name": "Base Yavin", "siret": cast.b.siret, "postal_code": cast.b.postal_code, "city": "Yavin"})
    session.expire_all()
    stored = session.get(Establishment, cast.b.id)
    assert (stored.name, stored.city, stored.siret) == ("Base Yavin", "Yavin", cast.b.siret)
    (updated,) = events(session, "establishment.update")
    assert updated.before == {"name": old[0], "city": old[1]}
    assert updated.after == {"name": "Base Yavin", "city": "Yavin"}
    assert updated.target_label == stored.label

    reference.save_establishment(session, cast.actor, cast.b, {
        "company": cast.one, "name": "Base Yavin", "siret": cast.b.siret, "postal_code": cast.b.postal_code, "city": "Yavin"})
    assert len(events(session)) == 1


def test_an_establishment_moves_to_another_company_with_its_new_siret(session, cast):
    siret = siret_of(cast.empty, "0007")
    reference.save_establishment(session, cast.actor, cast.b, {
        "company": cast.empty, "name": cast.b.name, "siret": siret, "postal_code": "", "city": ""})
    session.expire_all()
    stored = session.get(Establishment, cast.b.id)
    assert (stored.company_id, stored.siren, stored.siret) == (cast.empty.id, cast.empty.siren, siret)
    (updated,) = events(session, "establishment.update")
    assert set(updated.after) == {"company", "siret", "postal_code", "city"}
    assert updated.after["company"] == str(cast.empty) and updated.before["company"] == str(cast.one)


@pytest.mark.parametrize("target, change, field, message", [
    (None, {"company": None}, "company", "Choisissez l'entreprise"),
    (None, {"name": ""}, "name", "Le nom de l'établissement"),
    (None, {"siret": "123"}, "siret", "Le SIRET doit comporter 14 chiffres."),
    (None, {"siret": "other company"}, "siret", "Le SIRET doit commencer par le SIREN de l'entreprise"),
    (None, {"siret": "taken"}, "siret", "Un établissement avec ce SIRET existe déjà."),
    ("b", {"siret": "taken"}, "siret", "Un établissement avec ce SIRET existe déjà."),
    ("b", {"company": "empty"}, "siret", "Le SIRET doit commencer par le SIREN de l'entreprise"),
])
def test_a_refused_establishment_change_leaves_nothing(session, cast, target, change, field, message):
    data = {"company": cast.one, "name": "Base", "siret": siret_of(cast.one, "0555"), "postal_code": "", "city": ""}
    data.update(change)
    data["siret"] = {"other company": siret_of(cast.empty, "0555"), "taken": cast.a.siret}.get(data["siret"], data["siret"])
    if data["company"] == "empty":
        data["company"] = cast.empty
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        reference.save_establishment(session, cast.actor, getattr(cast, target) if target else None, data)
    assert refused.value.field == field and message in refused.value.message
    assert snapshot(session) == before


def test_an_establishment_nobody_is_attached_to_is_deleted_and_audited(session, cast):
    establishment_id, label = cast.b.id, cast.b.label
    assert reference.delete_establishment(session, cast.actor, cast.b) is True
    session.expire_all()
    assert session.get(Establishment, establishment_id) is None
    (deleted,) = events(session, "establishment.delete")
    assert (deleted.actor_id, deleted.target_id, deleted.target_label) == (cast.staff.id, establishment_id, label)


def test_an_establishment_with_users_is_not_deleted(session, cast):
    f.user(session, [(cast.a, [Habilitation.FUNDING])])
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        reference.delete_establishment(session, cast.actor, cast.a)
    assert "2 utilisateur(s) y sont rattachés" in refused.value.message and cast.a.name in refused.value.message
    assert snapshot(session) == before


# --- who may change reference data ----------------------------------------------------------------

@pytest.mark.parametrize("operation", ["create company", "rename company", "delete establishment", "delete company"])
def test_only_staff_change_reference_data(session, cast, operation):
    gestionnaire = f.actor(f.user(session, [(cast.b, f.MANAGER)]))
    spare = f.establishment(session, cast.one, "SPARE")  # nobody attached
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError):
        if operation == "create company":
            reference.save_company(session, gestionnaire, None, {"name": "Empire", "siren": "732829320"})
        elif operation == "rename company":
            reference.save_company(session, gestionnaire, cast.one, {"name": "Empire", "siren": cast.one.siren})
        elif operation == "delete establishment":
            reference.delete_establishment(session, gestionnaire, spare)
        else:
            reference.delete_company(session, gestionnaire, cast.empty)
    assert snapshot(session) == before
