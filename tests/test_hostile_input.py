"""Hostile values in URLs and forms: a French 400, a 404 or an ignored filter, never a 5xx.

Found in a security review: NUL bytes (PostgreSQL refuses them in text parameters), integers past
64 bits, negative pages and far dates went through to SQL and answered 500.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models import AuditEvent, Company, Establishment, User

from .demo import LUKE
from .http import csrf_token, login

HUGE = [str(2**31), str(2**63), str(10**30), "9" * 5000]  # past INTEGER, past BIGINT, far past, past int()'s digit limit
HOSTILE = [
    "a\x00b", *HUGE, "-1", "9999-12-31", "0001-01-01", "x" * 3000, "\u00b2", "\u202e\U0001f600%_'", "",
]
NUL_MESSAGE = "caractère nul (0x00)"
# Every argument some view reads (ours and Flask-Admin's), for the sweep's query strings.
QUERY_NAMES = [
    "page", "page_size", "sort", "desc", "search", "id", "ids", "request", "company", "q", "du", "au", "connexion",
    "connexion_avant", "connexion_depuis", "nom", "email", "entreprise", "etablissement", "actif", "habilitation",
    "staff", "mot_de_passe", "par", "action", "cible", "sur", "statut", "type", "destinataire", "name", "query",
    "offset", "limit", "url", "all", "next", "modal", "flt0_0",
]


@pytest.fixture
def luke(app, demo):
    """A client logged in as Luke, client manager of his company's establishments."""
    client = app.test_client()
    assert login(client, *LUKE).status_code == 302
    return client


def get_rules(app, client=None):
    """Every GET endpoint; with `client`, those it may open (a 403 page would say nothing more)."""
    rules = sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods), key=lambda r: r.rule)
    if client is None:
        return rules
    return [r for r in rules if client.get(build_path(r, "1")).status_code != 403]


_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def build_path(rule, value: str) -> str:
    from urllib.parse import quote

    return _ARGUMENT.sub(lambda _m: quote(value, safe="") or "x", rule.rule)


def assert_no_server_error(response, what: str):
    assert response.status_code < 500, f"{response.status_code} for {what}: {response.get_data(as_text=True)[:500]}"


def request_without_5xx(client, rule, path_value: str, query: dict[str, str]):
    url = build_path(rule, path_value)
    query = query
    response = client.get(url, query_string=query)
    assert_no_server_error(response, f"GET {url} {query!r}")
    return response


# --- every GET endpoint, each hostile value in every argument at once -----------------------------

def sweep(app, client, rules=None):
    for rule in rules or get_rules(app, client):
        request_without_5xx(client, rule, "\x00", {})
        for value in HOSTILE:
            request_without_5xx(client, rule, value, {name: value for name in QUERY_NAMES})


def test_every_get_endpoint_takes_every_hostile_value_as_staff(app, staff_client):
    sweep(app, staff_client)


def test_every_get_endpoint_takes_every_hostile_value_as_a_client_manager(app, luke):
    sweep(app, luke)


def test_the_public_pages_take_every_hostile_value(app, client):
    sweep(app, client, [r for r in get_rules(app) if not r.rule.startswith("/admin/")])


# --- the same endpoints, random mixtures (Hypothesis) ----------------------------------------------

values = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(max_size=30),
    st.dates().map(str),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_mixtures_of_hostile_arguments_never_give_a_server_error(app, staff_client, luke, data):
    client = data.draw(st.sampled_from([staff_client, luke]), label="who")
    rule = data.draw(st.sampled_from(get_rules(app)), label="rule")
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), values, max_size=5), label="query")
    request_without_5xx(client, rule, data.draw(values, label="path"), query)


@pytest.mark.parametrize("value", [str(2**64), "\u00b2"])
@pytest.mark.parametrize("url, argument", [("/admin/users/new/", "request"), ("/admin/users/lookup/establishments", "company")])
def test_ids_in_the_users_urls_are_bounded(staff_client, url, argument, value):
    response = staff_client.get(url, query_string={argument: value})
    assert response.status_code in (200, 400, 404)


@pytest.mark.parametrize("value", [str(2**64), "\u00b2"])
def test_establishment_ids_posted_by_the_grant_editor_are_bounded(staff_client, db, value):
    before = user_count(db)
    data = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "ahsoka@example.org", "phone": "0611223344",
            "job_title": "", "grants-present": "1", "grants-establishment": value, "grants-primary": value,
            "csrf_token": csrf_token(staff_client, "/admin/users/new/")}
    response = staff_client.post("/admin/users/new/", data=data)
    assert response.status_code in (200, 400)
    assert user_count(db) == before


# --- the cases of the report, one by one, with what the page must say -------------------------------

def user_count(db, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(*where))


def user_ids_shown(html: str) -> list[str]:
    return re.findall(r'href="/admin/users/edit/\?id=(\d+)', html)


def test_a_page_number_the_database_cannot_take_shows_the_first_page(staff_client):
    first = user_ids_shown(staff_client.get("/admin/users/?page_size=20").get_data(as_text=True))
    assert first
    for page in ("-1", str(2**64), str(10**30), "\u00b2"):
        response = staff_client.get("/admin/users/", query_string={"page": page, "page_size": "20"})
        assert response.status_code == 200 and user_ids_shown(response.get_data(as_text=True)) == first, page


def test_every_list_takes_a_wild_page_number(staff_client):
    for url in ("/admin/companies/?page=-1", f"/admin/establishments/?page={2**64}", f"/admin/audit/?page={10**30}",
                "/admin/emails/?page=-5", f"/admin/account-requests/?page={2**63}"):
        assert staff_client.get(url).status_code == 200, url


@pytest.mark.parametrize("view", ["users", "companies", "establishments", "emails", "account-requests"])
def test_an_id_past_the_integer_column_is_not_found(staff_client, view):
    for page in ("details", "edit"):
        for id_ in (str(2**31), str(2**64), str(10**30), "-1", "\u00b2", "1.0"):
            response = staff_client.get(f"/admin/{view}/{page}/", query_string={"id": id_})
            if response.status_code == 302:  # a view without that page sends back to its list
                continue
            assert response.status_code == 404, (page, id_)
            assert "Page introuvable" in response.get_data(as_text=True)


def test_a_nul_byte_anywhere_in_the_url_gets_the_french_400_page(staff_client):
    for url in ("/admin/users/?nom=Lu%00ke", "/admin/account-requests/?entreprise=%00", "/admin/audit/?par=a%00",
                "/admin/users/?search=%00", "/admin/users/lookup/companies?q=%00", "/admin/users/details/?id=1%00",
                "/admin/companies/?search=x%00", "/admin/users/?a%00=1", "/account/verify/abc%00def", "/admin/users%00/"):
        response = staff_client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 400 and "Requête invalide" in html and NUL_MESSAGE in html, url


def test_a_control_character_in_the_return_address_gets_the_french_400_page_not_a_500(staff_client, db):
    # Flask-Admin redirects to `url` after a save or when a record is missing: a newline there made
    # Werkzeug refuse the Location header (found by the random sweep below).
    for query in ({"url": "\n"}, {"url": "/admin/users/\r\nSet-Cookie: x=1"}, {"id": "1", "url": "\t"}):
        for page in ("/admin/account-requests/details/", "/admin/users/details/", "/admin/users/edit/"):
            response = staff_client.get(page, query_string=query)
            html = response.get_data(as_text=True)
            assert response.status_code == 400 and "paramètre « url »" in html, (page, query)
    target = db.session.scalar(select(User).where(User.active.is_(True), User.is_staff.is_(False)).limit(1))
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    token = csrf_token(staff_client, "/admin/users/")
    response = staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "deactivate", "rowid": str(target.id),
                                                               "url": "/admin/users/\n"})
    db.session.expire_all()
    assert response.status_code == 400 and target.active
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    # A plain return address is still taken.
    response = staff_client.get("/admin/users/details/", query_string={"id": target.id, "url": "/admin/users/?page=2"})
    assert response.status_code == 200


def test_the_login_refuses_a_nul_byte_in_the_email_and_logs_nobody_in(client, demo, db):
    token = csrf_token(client)
    response = client.post("/login", data={"email": LUKE[0] + "\x00", "password": LUKE[1], "csrf_token": token})
    assert response.status_code == 400 and NUL_MESSAGE in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # still logged out
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("login%"))) == 0


def request_ids(html: str) -> set[str]:
    return set(re.findall(r"/admin/account-requests/details/\?id=(\d+)", html))


def test_far_dates_in_the_request_filters_are_clamped_not_overflowed(staff_client):
    every = request_ids(staff_client.get("/admin/account-requests/?statut=toutes").get_data(as_text=True))
    assert every
    for filters, expected in (("du=0001-01-01&au=9999-12-31", every), ("au=9999-12-31", every), ("du=0001-01-01", every),
                              ("du=9999-12-31", set()), ("du=10000-01-01&au=2026-13-45", every)):  # not dates: no filter
        response = staff_client.get(f"/admin/account-requests/?statut=toutes&{filters}")
        assert response.status_code == 200 and request_ids(response.get_data(as_text=True)) == expected, filters


def event_count(html: str) -> int:
    return int(re.search(r"Nombre d(?:'|&#39;)évènements : (\d+)", html).group(1))


def test_far_dates_in_the_audit_filters_are_clamped_not_overflowed(staff_client):
    every = event_count(staff_client.get("/admin/audit/").get_data(as_text=True))
    assert every > 0
    for filters, expected in (("du=0001-01-01&au=9999-12-31", every), ("au=9999-12-31", every),
                              ("du=9999-12-31&au=9999-12-31", 0)):
        response = staff_client.get(f"/admin/audit/?{filters}")
        assert response.status_code == 200 and event_count(response.get_data(as_text=True)) == expected, filters


def test_an_impossible_target_id_in_the_audit_filter_is_ignored_with_a_message(staff_client):
    every = event_count(staff_client.get("/admin/audit/").get_data(as_text=True))
    for id_ in (str(2**64), "\u00b2", "12abc"):
        response = staff_client.get("/admin/audit/", query_string={"id": id_})
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and event_count(html) == every, id_
        assert "n&#39;est pas un identifiant valide : ce filtre est ignoré." in html


def test_the_lookup_of_the_company_field_takes_wild_offsets_and_limits(staff_client):
    for offset, limit in (("-1", "10"), (str(2**64), str(10**30)), ("0", "-5"), ("x", "y")):
        response = staff_client.get("/admin/establishments/ajax/lookup/",
                                    query_string={"name": "company", "query": "a", "offset": offset, "limit": limit})
        assert response.status_code == 200 and len(json.loads(response.get_data(as_text=True))) <= 20, (offset, limit)


def test_an_establishment_posted_with_an_impossible_company_id_is_refused_and_not_created(staff_client, db):
    before = db.session.scalar(select(func.count()).select_from(Establishment))
    for company in (str(2**64), "\u00b2", "-1"):
        data = {"company": company, "name": "Site", "siret": "40282065800217", "postal_code": "", "city": "",
                "csrf_token": csrf_token(staff_client, "/admin/establishments/new/")}
        assert staff_client.post("/admin/establishments/new/", data=data).status_code == 200, company
    assert db.session.scalar(select(func.count()).select_from(Establishment)) == before


# --- bulk and row actions: an impossible id changes nothing ----------------------------------------

def test_a_bulk_action_with_an_impossible_id_is_refused_and_changes_nothing(staff_client, db):
    active = user_count(db, User.active.is_(True))
    luke = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    token = csrf_token(staff_client, "/admin/users/")
    for rowid, message in ((str(2**64), "identifiant"), (str(10**30), "identifiant"), ("-1", "identifiant"),
                           ("\u00b2", "identifiant"), ("1\x00", NUL_MESSAGE)):
        response = staff_client.post("/admin/users/action/", data={"action": "deactivate", "rowid": [str(luke), rowid], "csrf_token": token})
        html = response.get_data(as_text=True)
        assert response.status_code == 400 and "Requête invalide" in html and message in html, rowid
    db.session.expire_all()
    assert user_count(db, User.active.is_(True)) == active


def test_the_other_bulk_actions_refuse_impossible_ids_too(staff_client, db):
    token = csrf_token(staff_client, "/admin/users/")
    companies = db.session.scalar(select(func.count()).select_from(Company))
    establishments = db.session.scalar(select(func.count()).select_from(Establishment))
    for view, action in (("emails", "retry"), ("audit", "export"), ("account-requests", "approve"), ("account-requests", "refuse"),
                         ("companies", "delete"), ("establishments", "delete")):
        response = staff_client.post(f"/admin/{view}/action/", data={"action": action, "rowid": [str(2**64)], "csrf_token": token})
        assert_no_server_error(response, f"{view} {action}")
    assert db.session.scalar(select(func.count()).select_from(Company)) == companies
    assert db.session.scalar(select(func.count()).select_from(Establishment)) == establishments


def test_the_companies_bulk_delete_takes_real_ids_on_every_database(staff_client, db):
    # Flask-Admin's own action sent the ids as strings: "integer = character varying" on PostgreSQL.
    empty = Company(name="Entreprise sans site", siren="732829320")
    db.session.add(empty)
    db.session.commit()
    busy = db.session.scalar(select(Company.id).join(Establishment, Establishment.company_id == Company.id).limit(1))
    token = csrf_token(staff_client, "/admin/companies/")
    response = staff_client.post("/admin/companies/action/", data={"action": "delete", "rowid": [str(empty.id), str(busy)],
                                                                   "csrf_token": token}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "1 entreprise supprimée." in html and "elle a encore des établissements" in html
    db.session.expire_all()
    assert db.session.scalar(select(Company.id).where(Company.siren == "732829320")) is None
    assert db.session.get(Company, busy) is not None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "company.delete")) == 1


def test_a_row_button_with_an_impossible_id_is_an_unknown_action(staff_client, db):
    active = user_count(db, User.active.is_(True))
    token = csrf_token(staff_client, "/admin/users/")
    for rowid in (str(2**64), "\u00b2", "-3", "", "4 2"):
        response = staff_client.post("/admin/users/row-action/", data={"row_action": f"deactivate:{rowid}", "csrf_token": token},
                                     follow_redirects=True)
        assert response.status_code == 200
        assert "Action inconnue : rien n&#39;a été modifié." in response.get_data(as_text=True), rowid
    db.session.expire_all()
    assert user_count(db, User.active.is_(True)) == active


def test_a_row_button_with_a_real_id_still_works(staff_client, db):
    luke = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    token = csrf_token(staff_client, "/admin/users/")
    response = staff_client.post("/admin/users/row-action/", data={"row_action": f"deactivate:{luke}", "csrf_token": token})
    assert response.status_code == 302
    assert db.session.scalar(select(User.active).where(User.id == luke)) is False


def test_refusing_requests_with_impossible_ids_is_a_french_400(staff_client):
    for ids in (str(2**64), f"1,{10**30}", "\u00b2", "-1"):
        response = staff_client.get("/admin/account-requests/refuse/", query_string={"ids": ids})
        assert response.status_code == 400 and "Requête invalide" in response.get_data(as_text=True), ids
