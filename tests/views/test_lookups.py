"""The company and establishment pickers at scale: 26 companies sharing a word, one of 1,500 establishments."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from stdnum import luhn

from models import Company, Establishment, Grant, User
from views import user_lookups

from ..databases import count_statements
from ..demo import LUKE
from ..http import edit_data, grants_form
from ..services import factories

BIG = 1500


@pytest.fixture
def cabinets(db, demo):
    """25 companies "Cabinet …" and one named "Cabinet" exactly, each with one establishment in Nantes."""
    made = []
    for name in ["Cabinet"] + [f"Cabinet Martin {factories._letters(i)}" for i in range(25)]:
        company = factories.company(db.session, name=name)
        stem = f"{company.siren}0001"
        db.session.add(Establishment(company=company, name=name, siret=stem + luhn.calc_check_digit(stem),
                                     postal_code="44000", city="Nantes"))
        made.append(company)
    db.session.commit()
    return made


@pytest.fixture
def network(db, demo):
    company = factories.big_company(db.session)
    db.session.commit()
    return company


def companies(client, q):
    response = client.get("/admin/users/lookup/companies", query_string={"q": q})
    assert response.status_code == 200
    return response.get_json()


def establishments(client, company, q=""):
    response = client.get("/admin/users/lookup/establishments", query_string={"company": company, "q": q})
    assert response.status_code == 200
    return response.get_json()


# --- companies ----------------------------------------------------------------------------------------------

def test_more_than_twenty_companies_say_how_many_more_and_the_exact_name_comes_first(staff_client, cabinets):
    found = companies(staff_client, "cabinet")
    assert len(found["results"]) == 20
    assert found["more"] == 6 and found["more_text"] == "6 autres résultats : précisez"
    assert found["summary"] == "20 premiers résultats ; 6 autres résultats : précisez"
    first = found["results"][0]
    assert first["name"] == "Cabinet" and first["label"] == f"Cabinet – {cabinets[0].siren}"
    assert first["city"] == "Nantes" and first["establishments"] == 1 and first["detail"] == "Nantes · 1 établissement"
    assert found["exact"]["id"] == cabinets[0].id and found["exact_by"] == "name"  # a choice, without a click

    precise = companies(staff_client, "martin b")
    assert precise["more"] == 0 and precise["more_text"] == "" and precise["exact"] is None
    assert [c["name"] for c in precise["results"]] == ["Cabinet Martin b"] and precise["summary"] == "1 résultat"


def test_the_count_past_the_first_twenty_stops_at_its_cap(staff_client, cabinets, monkeypatch, db):
    monkeypatch.setattr(user_lookups, "COUNT_CAP", 22)
    found = companies(staff_client, "cabinet")
    assert len(found["results"]) == 20 and found["more_text"] == "Plus de 22 résultats : précisez"
    with count_statements(db) as statements:
        companies(staff_client, "cabinet")
    lookups = [s for s in statements if "companies" in s or "establishments" in s]
    assert len(lookups) <= 4, lookups  # 21 rows, a bounded count, the establishments' counts, their cities


def test_a_full_siren_or_siret_or_the_pickers_label_is_a_choice(staff_client, network, db):
    site = db.session.scalar(select(Establishment).where(Establishment.company_id == network.id).order_by(Establishment.siret))
    spaced = f"{network.siren[:3]} {network.siren[3:6]} {network.siren[6:]}"
    for typed in (network.siren, spaced, f"Réseau National – {network.siren}", site.siret):
        found = companies(staff_client, typed)
        assert [c["id"] for c in found["results"]] == [network.id], typed
        assert found["exact"]["id"] == network.id and found["exact"]["establishments"] == BIG, typed
        assert found["exact_by"] == "identifier"
        assert found["exact"]["detail"] == "Marseille · 1\u202f500 établissements"
    assert companies(staff_client, site.siret)["exact_establishment"]["id"] == site.id
    assert companies(staff_client, network.siren[:5])["exact"] is None  # a part of a SIREN only suggests


def test_nothing_matches_says_so(staff_client, cabinets):
    found = companies(staff_client, "zzz introuvable")
    assert found["results"] == [] and found["summary"] == "Aucune entreprise ne correspond"


# --- establishments of a 1,500-site company ------------------------------------------------------------------

def test_establishments_within_a_company_of_1500(staff_client, network, db):
    first = establishments(staff_client, network.id)
    # 1,500 matches: the count stops at 1,000 rather than read them all on each keystroke
    assert len(first["results"]) == 20 and first["more_text"] == "Plus de 1\u202f000 résultats : précisez"
    assert all(r["company_id"] == network.id for r in first["results"])
    lyon = establishments(staff_client, network.id, "lyon")
    assert lyon["more_text"] == "480 autres résultats : précisez"
    by_postcode = establishments(staff_client, network.id, "3100")
    assert by_postcode["more"] == 480 and all(r["label"].endswith("31000 Toulouse") for r in by_postcode["results"])
    two_words = establishments(staff_client, network.id, "marseille 0004")
    assert [r["label"].split(" – ")[0] for r in two_words["results"]] == ["Réseau National Marseille 0004"]
    siret = db.session.scalar(select(Establishment.siret).where(Establishment.company_id == network.id, Establishment.name.like("% 0777")))
    exact = establishments(staff_client, network.id, siret)
    assert exact["exact"]["value"] == siret and len(exact["results"]) == 1
    none = establishments(staff_client, network.id, "grenoble")
    assert none["results"] == [] and none["summary"] == "Aucun établissement ne correspond"


def test_a_delegated_administrator_is_offered_only_the_sites_of_their_perimeter(as_user, network, db):
    luke_id = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    sites = db.session.scalars(select(Establishment.id).where(Establishment.company_id == network.id).order_by(Establishment.id).limit(2)).all()
    db.session.add_all([Grant(user_id=luke_id, establishment_id=e, manager=True) for e in sites])
    db.session.commit()
    luke = as_user(LUKE)
    found = companies(luke, "réseau")
    assert [(c["id"], c["establishments"]) for c in found["results"]] == [(network.id, 2)]
    assert {r["id"] for r in establishments(luke, network.id)["results"]} == set(sites)
    other = factories.establishment(db.session)
    db.session.commit()
    assert companies(luke, other.siren)["results"] == [] and establishments(luke, other.company_id)["results"] == []


# --- bad input ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/admin/users/lookup/companies?q=" + "a" * 10_000,
    "/admin/users/lookup/establishments?q=" + "9" * 10_000,
    "/admin/users/lookup/establishments?company=abc",
    "/admin/users/lookup/establishments?company=99999999999999",
    "/admin/users/lookup/companies?q=%25_%5C",
])
def test_hostile_lookups_answer_empty_or_in_french(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 200
    data = response.get_json()
    assert data["results"] == [] and data["summary"]


def test_a_nul_byte_in_a_lookup_is_refused_in_french(staff_client):
    response = staff_client.get("/admin/users/lookup/companies?q=ab%00")
    assert response.status_code == 400 and "caractère nul" in response.get_data(as_text=True)


# --- the filter and the results' heading ------------------------------------------------------------------------

def test_the_results_heading_names_the_filtered_company(staff_client, network, db):
    html = staff_client.get(f"/admin/users/?entreprise={network.siren}").get_data(as_text=True)
    spaced = f"{network.siren[:3]} {network.siren[3:6]} {network.siren[6:]}"
    assert f"Entreprise : <strong>Réseau National</strong> <span class=\"text-muted\">(SIREN {spaced})</span>" in html
    assert f'data-company-label="Réseau National – {network.siren}"' in html
    jedi = staff_client.get("/admin/users/", query_string={"entreprise": "Temple JEDI – 111385407"}).get_data(as_text=True)
    assert "Entreprise : <strong>Temple JEDI</strong>" in jedi and "Nombre total d'utilisateurs : 3" in jedi
    part = staff_client.get("/admin/users/?entreprise=temple").get_data(as_text=True)
    assert "Entreprises dont le nom contient « temple »" in part


def test_the_heading_of_a_company_outside_the_perimeter_names_nothing(as_user, network):
    html = as_user(LUKE).get(f"/admin/users/?entreprise={network.siren}").get_data(as_text=True).replace("&#39;", "'")
    assert "Réseau National" not in html and f"Aucune entreprise de votre périmètre n'a le SIREN {network.siren}" in html


# --- the grant editor ---------------------------------------------------------------------------------------

def test_the_editor_offers_two_type_aheads_and_one_company_skips_the_first(staff_client, as_user, db):
    luke_id = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    obiwan = db.session.scalar(select(User.id).where(User.email == "obi-wan.kenobi@example.org"))
    html = staff_client.get(f"/admin/users/edit/?id={luke_id}").get_data(as_text=True)
    assert 'id="grant-company"' in html and 'role="combobox"' in html and 'aria-controls="grant-establishment-list"' in html
    single = as_user(LUKE).get(f"/admin/users/edit/?id={obiwan}").get_data(as_text=True)
    assert 'id="grant-company"' not in single and 'id="grant-establishment"' in single
    assert "Entreprise : <strong>Temple JEDI</strong>" in single and 'data-company="' in single


def test_an_establishment_posted_under_another_company_changes_nothing(staff_client, network, db):
    luke_id = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    site = db.session.scalar(select(Establishment.id).where(Establishment.company_id == network.id).limit(1))
    other_company = db.session.scalar(select(Company.id).where(Company.siren == "111385407"))
    before = sorted(db.session.scalars(select(Grant.establishment_id).where(Grant.user_id == luke_id)))
    data = edit_data(staff_client, db, luke_id, **grants_form([(site, ["funding"])], site))
    data[f"grants-{site}-company"] = str(other_company)
    response = staff_client.post(f"/admin/users/edit/?id={luke_id}", data=data)
    assert response.status_code == 400
    assert "n'appartient pas à l'entreprise choisie : rien n'a été modifié" in response.get_data(as_text=True).replace("&#39;", "'")
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Grant.establishment_id).where(Grant.user_id == luke_id))) == before


def test_a_site_outside_the_perimeter_posted_with_its_company_is_refused_by_the_service(as_user, network, db):
    luke = as_user(LUKE)
    obiwan = db.session.scalar(select(User.id).where(User.email == "obi-wan.kenobi@example.org"))
    site = db.session.scalar(select(Establishment.id).where(Establishment.company_id == network.id).limit(1))
    before = sorted(db.session.scalars(select(Grant.establishment_id).where(Grant.user_id == obiwan)))
    temple = db.session.scalar(select(Establishment.id).where(Establishment.siret == "11138540700015"))
    data = edit_data(luke, db, obiwan, **grants_form([(temple, ["user_admin"]), (site, ["funding"])], temple))
    data[f"grants-{site}-company"] = str(network.id)
    response = luke.post(f"/admin/users/edit/?id={obiwan}", data=data)
    assert response.status_code == 200 and "hors de votre périmètre" in response.get_data(as_text=True)
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Grant.establishment_id).where(Grant.user_id == obiwan))) == before
