"""Hostile and unusual text through every form: refused in French, or stored and shown escaped everywhere."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from models import AccountRequest, AuditEvent, Company, OutboundEmail, User

from .http import csrf_token

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
FRENCH_NAMES = [("D'Artagnan", "Éloïse"), ("Jean-Noël", "ÇA"), ("Le Blanc", "Anne-Sophie")]
INVISIBLE = ["Luke\u202e", "Luke\u200b", "Lu\x07ke"]  # NUL never gets this far: see test_nul_bytes_...


def create_user(client, **changes):
    data = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "ahsoka@example.org",
            "phone": "0611223344", "job_title": "", **changes, "csrf_token": csrf_token(client, "/admin/users/new/")}
    return client.post("/admin/users/new/", data=data)


def user_count(db):
    return db.session.scalar(select(func.count()).select_from(User))


def assert_escaped(html: str, payload: str):
    assert payload not in html, "unescaped payload"
    assert "&lt;" in html or "&#34;" in html or "&gt;" in html


@pytest.mark.parametrize("field", ["last_name", "first_name"])
@pytest.mark.parametrize("payload", [SCRIPT, IMG, TEMPLATE, "x" * 10_000, *INVISIBLE])
def test_hostile_names_are_refused_in_french_and_nothing_is_created(staff_client, db, field, payload):
    before = user_count(db)
    html = create_user(staff_client, **{field: payload}).get_data(as_text=True)
    assert any(message in html for message in (
        "ne peut contenir que des lettres", "ne doit pas dépasser 100 caractères", "caractères invisibles ou de contrôle"))
    assert user_count(db) == before


@pytest.mark.parametrize("last, first", FRENCH_NAMES)
def test_real_french_names_are_accepted_and_shown_intact(staff_client, db, last, first):
    assert create_user(staff_client, last_name=last, first_name=first).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "ahsoka@example.org"))
    assert (user.last_name, user.first_name) == (last.upper(), first)
    listing = staff_client.get(f"/admin/users/?nom={first}").get_data(as_text=True)
    escaped_last = last.upper().replace("'", "&#39;")
    assert escaped_last in listing and first in listing


@pytest.mark.parametrize("payload", [SCRIPT, IMG, TEMPLATE])
def test_hostile_job_titles_are_stored_and_escaped_in_list_details_audit_export_and_email(staff_client, db, payload):
    assert create_user(staff_client, job_title=payload).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "ahsoka@example.org"))
    assert user.job_title == payload
    for url in ("/admin/users/", f"/admin/users/details/?id={user.id}", "/admin/audit/"):
        html = staff_client.get(url).get_data(as_text=True)
        if payload == TEMPLATE:
            assert TEMPLATE in html, url  # shown as typed: data is never evaluated as a template
        else:
            assert payload not in html, url
    token = csrf_token(staff_client, "/admin/users/")
    export = staff_client.post("/admin/users/action/?nom=tano", data={"csrf_token": token, "action": "export", "all_matching": "1", "url": "/"})
    row = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))[1]
    assert row[3] == payload  # CSV has no markup to escape; formulas are the risk there
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "ahsoka@example.org"))
    assert SCRIPT not in email.body_html and "<img src=x" not in email.body_html


@pytest.mark.parametrize("payload", ["=HYPERLINK(\"http://evil\")", "+33 badness", "-2+3", "@SUM(A1)"])
def test_csv_cells_that_start_a_formula_are_neutralised(staff_client, db, payload):
    assert create_user(staff_client, job_title=payload).status_code == 302
    token = csrf_token(staff_client, "/admin/users/")
    export = staff_client.post("/admin/users/action/?nom=tano", data={"csrf_token": token, "action": "export", "all_matching": "1", "url": "/"})
    row = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))[1]
    assert row[3] == "'" + payload


@pytest.mark.parametrize("payload", [SCRIPT, IMG, TEMPLATE])
def test_hostile_company_names_in_requests_are_escaped_in_the_tab_and_emails(client, staff_client, db, payload):
    data = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "ahsoka@example.org", "phone": "0611223344",
            "company_name": payload, "siret": "11138540700015", "csrf_token": csrf_token(client, "/account/request")}
    assert "bien été envoyée" in client.post("/account/request", data=data).get_data(as_text=True)
    html = staff_client.get("/admin/account-requests/").get_data(as_text=True)
    assert (payload in html) if payload == TEMPLATE else (payload not in html)
    request = db.session.scalar(select(AccountRequest).where(AccountRequest.email == "ahsoka@example.org"))
    assert request.company_name == payload
    details = staff_client.get(f"/admin/account-requests/details/?id={request.id}").get_data(as_text=True)
    assert (payload in details) if payload == TEMPLATE else (payload not in details)
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "ahsoka@example.org"))
    assert SCRIPT not in email.body_html and "<img src=x" not in email.body_html


@pytest.mark.parametrize("payload", [SCRIPT, IMG, "Établissement fermé\nMerci de votre compréhension.", "x" * 10_000, "motif\u202e"])
def test_refusal_reasons_are_escaped_or_refused(staff_client, db, payload):
    boba = db.session.scalar(select(AccountRequest.id).where(AccountRequest.last_name == "FETT"))
    url = f"/admin/account-requests/refuse/?ids={boba}"
    response = staff_client.post(url, data={"reason": "other", "details": payload, "csrf_token": csrf_token(staff_client, url)},
                                 follow_redirects=True)
    html = response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(AccountRequest, boba)
    if len(payload) > 2000 or "\u202e" in payload:
        assert "ne doit pas dépasser 2000 caractères" in html or "caractères invisibles" in html
        assert stored.status == "pending"
        return
    assert stored.refusal_reason == payload
    details = staff_client.get(f"/admin/account-requests/details/?id={boba}").get_data(as_text=True)
    assert payload not in details or "<" not in payload
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "request_refused"))
    assert SCRIPT not in email.body_html and "<img src=x" not in email.body_html


@pytest.mark.parametrize("payload, accepted", [(SCRIPT, True), ("x" * 10_000, False), ("Société d'Études", True)])
def test_company_names_in_the_reference_screens(staff_client, db, payload, accepted):
    token = csrf_token(staff_client, "/admin/companies/new/")
    response = staff_client.post("/admin/companies/new/", data={"name": payload, "siren": "732829320", "csrf_token": token})
    saved = db.session.scalar(select(Company.name).where(Company.siren == "732829320"))
    if not accepted:
        assert response.status_code == 200 and saved is None
        assert "caractères" in response.get_data(as_text=True)
        return
    assert saved == payload
    html = staff_client.get("/admin/companies/").get_data(as_text=True)
    assert SCRIPT not in html
    audit = staff_client.get("/admin/audit/").get_data(as_text=True)
    assert SCRIPT not in audit


@pytest.mark.parametrize("field, payload", [("last_name", "Lu\u0000ke"), ("first_name", "\u0000"), ("job_title", "x\u0000")])
def test_nul_bytes_in_a_form_get_the_french_400_page_and_nothing_is_created(staff_client, db, field, payload):
    # PostgreSQL refuses NUL in text parameters: it is refused for every field, before any form reads it.
    before = user_count(db)
    response = create_user(staff_client, **{field: payload})
    assert response.status_code == 400
    assert "caractère nul (0x00)" in response.get_data(as_text=True)
    assert user_count(db) == before


def test_a_nul_byte_in_a_company_name_creates_nothing(staff_client, db):
    token = csrf_token(staff_client, "/admin/companies/new/")
    response = staff_client.post("/admin/companies/new/", data={"name": "Entreprise\u0000", "siren": "732829320", "csrf_token": token})
    assert response.status_code == 400 and "caractère nul" in response.get_data(as_text=True)
    assert db.session.scalar(select(Company.id).where(Company.siren == "732829320")) is None


@pytest.mark.parametrize("payload", ["<script>@example.org", "a@b.c<script>", "\"><img@example.org", "luke\u202e@example.org"])
def test_hostile_emails_are_refused(staff_client, db, payload):
    before = user_count(db)
    html = create_user(staff_client, email=payload).get_data(as_text=True)
    assert "Cette adresse email n&#39;est pas valide." in html
    assert user_count(db) == before
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.create")) == 0
