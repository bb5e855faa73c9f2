"""The reference-data forms' rules as staff meet them: each field's French label and maximum length, the
message and field of each refusal, and the history entries named as the history screen shows them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select
from stdnum import luhn

from admin_app.services import ServiceError, reference
from models import AuditEvent, Company, Establishment

from . import factories as f


@pytest.fixture
def cast(session):
    one = f.company(session, "ONE")
    staff = f.user(session, staff=True)
    manager_site = f.establishment(session, one, "A")
    manager = f.user(session, [(manager_site, f.MANAGER)])
    session.commit()
    return SimpleNamespace(one=one, staff=f.actor(staff), manager=f.actor(manager))


def siret_of(company: Company, nic: str) -> str:
    return company.siren + nic + luhn.calc_check_digit(company.siren + nic)


def a_siren(prefix: str = "73282932") -> str:
    return prefix + luhn.calc_check_digit(prefix)


def refused(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value


def rows(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def site(of: Company, **changes) -> dict:
    return {"company": of, "name": "Siège", "siret": siret_of(of, "0042"), "postal_code": "75001", "city": "Paris",
            **changes}


# --- who may change them ----------------------------------------------------------------------------

def test_only_the_back_office_changes_reference_data_and_is_told_so(session, cast):
    expected = "Seul le back-office peut modifier les entreprises et les établissements."
    assert refused(lambda: reference.save_company(session, cast.manager, None, {"name": "X", "siren": a_siren()})).message == expected
    assert refused(lambda: reference.save_establishment(session, cast.manager, None, site(cast.one))).message == expected
    assert rows(session) == []


# --- companies --------------------------------------------------------------------------------------

def test_a_company_name_may_have_200_characters_not_201(session, cast):
    error = refused(lambda: reference.save_company(session, cast.staff, None, {"name": "A" * 201, "siren": a_siren()}))
    assert (error.message, error.field) == ("La raison sociale ne doit pas dépasser 200 caractères.", "name")
    company = reference.save_company(session, cast.staff, None, {"name": "A" * 200, "siren": a_siren()})
    assert session.get(Company, company.id).name == "A" * 200


def test_a_company_needs_a_name(session, cast):
    error = refused(lambda: reference.save_company(session, cast.staff, None, {"name": " ", "siren": a_siren()}))
    assert (error.message, error.field) == ("La raison sociale est obligatoire.", "name")


@pytest.mark.parametrize("data", [{"name": "X"}, {"name": "X", "siren": ""}, {"name": "X", "siren": None}])
def test_a_missing_siren_asks_for_its_nine_digits(session, cast, data):
    error = refused(lambda: reference.save_company(session, cast.staff, None, data))
    assert (error.message, error.field) == ("Le SIREN doit comporter 9 chiffres.", "siren")


def test_a_siren_already_used_is_refused_on_that_field(session, cast):
    error = refused(lambda: reference.save_company(session, cast.staff, None, {"name": "Autre", "siren": cast.one.siren}))
    assert (error.message, error.field) == ("Une entreprise avec ce SIREN existe déjà.", "siren")


def test_the_siren_of_a_company_with_establishments_cannot_change(session, cast):
    error = refused(lambda: reference.save_company(session, cast.staff, cast.one, {"name": "ONE", "siren": a_siren()}))
    assert error.field == "siren"
    assert error.message == ("Le SIREN ne peut pas changer tant que l'entreprise a des établissements : "
                             "leurs SIRET commencent par ce SIREN.")


def test_a_renamed_company_is_named_in_the_history_by_its_new_name(session, cast):
    reference.save_company(session, cast.staff, cast.one, {"name": "ONE renommée", "siren": cast.one.siren})
    (row,) = rows(session)
    assert (row.action, row.target_type, row.target_id, row.target_label) == (
        "company.update", "company", cast.one.id, f"ONE renommée ({cast.one.siren})")
    assert (row.before, row.after) == ({"name": "ONE"}, {"name": "ONE renommée"})


def test_a_deleted_company_stays_named_in_the_history(session, cast):
    empty = f.company(session, "VIDE")
    session.commit()
    label, company_id = f"VIDE ({empty.siren})", empty.id
    reference.delete_company(session, cast.staff, empty)
    (row,) = rows(session)
    assert (row.action, row.target_type, row.target_id, row.target_label) == ("company.delete", "company", company_id, label)


# --- establishments ---------------------------------------------------------------------------------

def test_an_establishment_needs_its_company(session, cast):
    error = refused(lambda: reference.save_establishment(session, cast.staff, None, site(cast.one, company=None)))
    assert (error.message, error.field) == ("Choisissez l'entreprise de l'établissement.", "company")


def test_an_establishment_name_may_have_200_characters_not_201(session, cast):
    error = refused(lambda: reference.save_establishment(session, cast.staff, None, site(cast.one, name="B" * 201)))
    assert (error.message, error.field) == ("Le nom de l'établissement ne doit pas dépasser 200 caractères.", "name")
    made = reference.save_establishment(session, cast.staff, None, site(cast.one, name="B" * 200))
    assert session.get(Establishment, made.id).name == "B" * 200


@pytest.mark.parametrize("siret", ["", None])
def test_a_missing_siret_asks_for_its_fourteen_digits(session, cast, siret):
    error = refused(lambda: reference.save_establishment(session, cast.staff, None, site(cast.one, siret=siret)))
    assert (error.message, error.field) == ("Le SIRET doit comporter 14 chiffres.", "siret")


def test_a_siret_already_used_is_refused_on_that_field(session, cast):
    taken = cast.one.establishments[0].siret
    error = refused(lambda: reference.save_establishment(session, cast.staff, None, site(cast.one, siret=taken)))
    assert (error.message, error.field) == ("Un établissement avec ce SIRET existe déjà.", "siret")


@pytest.mark.parametrize("field, label, limit", [("postal_code", "Le code postal", 10), ("city", "La ville", 100)])
def test_postal_code_and_city_have_their_limit_and_label(session, cast, field, label, limit):
    error = refused(lambda: reference.save_establishment(session, cast.staff, None, site(cast.one, **{field: "7" * (limit + 1)})))
    assert (error.message, error.field) == (f"{label} ne doit pas dépasser {limit} caractères.", field)
    made = reference.save_establishment(session, cast.staff, None, site(cast.one, **{field: "7" * limit}))
    assert getattr(session.get(Establishment, made.id), field) == "7" * limit


@pytest.mark.parametrize("field, label", [("postal_code", "Le code postal"), ("city", "La ville")])
def test_postal_code_and_city_refuse_control_characters_with_their_label(session, cast, field, label):
    error = refused(lambda: reference.save_establishment(session, cast.staff, None, site(cast.one, **{field: "75\x0001"})))
    assert (error.message, error.field) == (f"{label} contient des caractères invisibles ou de contrôle non autorisés.", field)


@pytest.mark.parametrize("empty", ["", None, "   "])
def test_postal_code_and_city_may_be_left_empty(session, cast, empty):
    made = reference.save_establishment(session, cast.staff, None, site(cast.one, postal_code=empty, city=empty))
    stored = session.get(Establishment, made.id)
    assert (stored.postal_code, stored.city) == ("", "")


def test_a_changed_establishment_is_named_in_the_history(session, cast):
    where = cast.one.establishments[0]
    reference.save_establishment(session, cast.staff, where, site(cast.one, name=where.name, siret=where.siret, city="Lyon"))
    (row,) = rows(session)
    assert (row.action, row.target_type, row.target_id, row.target_label) == (
        "establishment.update", "establishment", where.id, f"A – {where.siret[:9]} {where.siret[9:]} – 75001 Lyon")
    assert (row.before, row.after) == ({"city": "Paris"}, {"city": "Lyon"})


def test_a_deleted_establishment_stays_named_in_the_history(session, cast):
    where = f.establishment(session, cast.one, "Vide")
    session.commit()
    label, where_id = where.label, where.id
    reference.delete_establishment(session, cast.staff, where)
    (row,) = rows(session)
    assert (row.action, row.target_type, row.target_id, row.target_label) == ("establishment.delete", "establishment", where_id, label)


def test_a_manager_cannot_delete_an_establishment_either(session, cast):
    where = f.establishment(session, cast.one, "Vide")
    session.commit()
    error = refused(lambda: reference.delete_establishment(session, cast.manager, where))
    assert error.message == "Seul le back-office peut modifier les entreprises et les établissements."
    assert session.get(Establishment, where.id) is not None


def test_someone_attached_keeps_the_establishment(session, cast):
    where = cast.one.establishments[0]
    error = refused(lambda: reference.delete_establishment(session, cast.staff, where))
    assert error.message == ("Impossible de supprimer l'établissement « A » : 1 utilisateur(s) y sont rattachés. "
                             "Retirez d'abord ces rattachements.")
