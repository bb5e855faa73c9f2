"""Staff screens for companies and establishments."""

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Company, Establishment, Habilitation

from ..http import csrf_token
from ..services import factories as f


@pytest.fixture
def own_staff(db, as_member):
    """A staff member of the test's own, logged in: the référentiel's rules need no demo data."""
    return as_member(f.member(db.session, staff=True))


def test_companies_list_counts_users_and_searches_by_siren(staff_client):
    html = staff_client.get("/admin/companies/").get_data(as_text=True)
    assert "Raison sociale" in html and "Temple JEDI" in html and "Cantina de Mos Eisley" in html
    found = staff_client.get("/admin/companies/?search=111385407").get_data(as_text=True)
    assert "Temple JEDI" in found and "Cantina de Mos Eisley" not in found


def test_establishments_list_searches_by_siret_postal_code_and_city(staff_client):
    for term in ("55220335800023", "99031", "Anchorhead"):
        html = staff_client.get(f"/admin/establishments/?search={term}").get_data(as_text=True)
        assert "Ancre d&#39;Anchorhead" in html or "Ancre d'Anchorhead" in html, term
        assert "Temple JEDI Annexe" not in html


def test_create_company_with_invalid_siren_shows_french_message_and_creates_nothing(own_staff, db):
    staff_client = own_staff
    token = csrf_token(staff_client, "/admin/companies/new/")
    response = staff_client.post("/admin/companies/new/", data={"name": "Rebelles", "siren": "123456789", "csrf_token": token})
    assert response.status_code == 200
    assert "clé de contrôle incorrecte" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Company).where(Company.name == "Rebelles")) == 0


def test_create_company_and_establishment(own_staff, db):
    staff_client = own_staff
    token = csrf_token(staff_client, "/admin/companies/new/")
    response = staff_client.post("/admin/companies/new/", data={"name": "Alliance Rebelle", "siren": "732 829 320", "csrf_token": token})
    assert response.status_code == 302
    company = db.session.scalar(select(Company).where(Company.siren == "732829320"))
    assert company.name == "Alliance Rebelle"

    bad = staff_client.post(
        "/admin/establishments/new/",
        data={"company": str(company.id), "name": "Base Echo", "siret": "11138540700031", "csrf_token": token},
    )
    assert "Le SIRET doit commencer par le SIREN de l&#39;entreprise (732829320)" in bad.get_data(as_text=True)
    good = staff_client.post(
        "/admin/establishments/new/",
        data={"company": str(company.id), "name": "Base Echo", "siret": "73282932000017", "postal_code": "99040",
              "city": "Hoth", "csrf_token": token},
    )
    assert good.status_code == 302
    echo = db.session.scalar(select(Establishment).where(Establishment.siret == "73282932000017"))
    assert echo.label == "Base Echo – 732829320 00017 – 99040 Hoth"
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"company.create", "establishment.create"} <= actions


def test_an_establishment_with_users_cannot_be_deleted(own_staff, db):
    staff_client, temple = own_staff, f.establishment(db.session)
    f.user(db.session, [(temple, [Habilitation.FUNDING])])
    db.session.commit()
    token = csrf_token(staff_client, "/admin/establishments/")
    response = staff_client.post(
        "/admin/establishments/delete/", data={"id": str(temple.id), "csrf_token": token}, follow_redirects=True
    )
    assert "utilisateur(s) y sont rattachés" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Establishment, temple.id) is not None


def test_an_unused_establishment_can_be_deleted(own_staff, db):
    staff_client = own_staff
    used = f.establishment(db.session)
    f.user(db.session, [(used, [Habilitation.FUNDING])])  # a neighbour with users, of the same company
    f.establishment(db.session, of=used.company, name="Vide")
    db.session.commit()
    empty = db.session.scalar(select(Establishment).where(Establishment.name == "Vide"))
    token = csrf_token(staff_client, "/admin/establishments/")
    staff_client.post("/admin/establishments/delete/", data={"id": str(empty.id), "csrf_token": token})
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Establishment).where(Establishment.name == "Vide")) == 0
    assert db.session.scalar(select(AuditEvent.target_label).where(AuditEvent.action == "establishment.delete")).startswith("Vide")
