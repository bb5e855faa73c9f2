"""Bodies that are not a web form's (JSON, a file, plain text) get a French 415 or 400 on every POST, before any
form or service reads them; the cleaners refuse what is not text; over-long return addresses are ignored."""

from __future__ import annotations

import io
import json

import pytest
from markupsafe import escape
from sqlalchemy import func, select
from stdnum import luhn

from admin_app.inputs import FILE_MESSAGE, MAX_RETURN_URL
from models import Base, Company, InvalidValue
from models.rules import clean_email, clean_phone, clean_siren, clean_siret, clean_text

from .demo import STAFF
from .http import csrf_token, endpoint_urls


def row_counts(db) -> dict[str, int]:
    """How many rows each table holds: users, grants, audit, outbox, jobs... all of them."""
    db.session.expire_all()
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) for table in Base.metadata.sorted_tables}


def fields(token: str) -> dict:
    """What a form of this app might read, so that a body which got through would reach the forms and services."""
    return {"csrf_token": token, "email": ["staff@example.org"], "password": {"a": 1}, "action": "delete",
            "rowid": [1, 2], "id": 1, "all_matching": True, "name": None, "url": "/"}


def json_post(client, url: str, token: str):
    return client.post(url, data=json.dumps(fields(token)), content_type="application/json",
                       headers={"X-CSRFToken": token})


def multipart_post(client, url: str, token: str):
    data = {"csrf_token": token, "action": "delete", "rowid": "1", "id": "1", "url": "/",
            "email": (io.BytesIO(b"staff@example.org"), "email.txt"), "siren": (io.BytesIO(b"\x00\xff" * 100), "x.bin")}
    return client.post(url, data=data, content_type="multipart/form-data", headers={"X-CSRFToken": token})


@pytest.mark.parametrize("who", ["anonymous", "staff"])
def test_every_post_endpoint_refuses_json_and_files_before_reading_them(app, client, demo, db, as_user, who):
    visitor = client if who == "anonymous" else as_user(STAFF)
    token = csrf_token(visitor, "/login" if who == "anonymous" else "/admin/users/")
    posts = endpoint_urls(app, "POST")
    assert {"auth.login", "auth.account_request", "auth.forgot_password", "users.action_view",
            "companies.create_view"} <= {endpoint for endpoint, _ in posts}
    before = row_counts(db)
    for endpoint, url in posts:
        response = json_post(visitor, url, token)
        assert response.status_code == 415, (endpoint, url, response.status_code)
        assert "Format de données non pris en charge" in response.get_data(as_text=True)
        response = multipart_post(visitor, url, token)
        assert response.status_code == 400, (endpoint, url, response.status_code)
        assert str(escape(FILE_MESSAGE)) in response.get_data(as_text=True)
    assert row_counts(db) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/merge-patch+json", None])
def test_other_bodies_get_the_french_415_and_nothing_is_written(client, demo, db, content_type):
    token = csrf_token(client, "/login")
    before = row_counts(db)
    body = f"csrf_token={token}&email={STAFF[0]}&password={STAFF[1]}"
    response = client.post("/login", data=body, content_type=content_type)
    assert response.status_code == 415 and "formulaire web" in response.get_data(as_text=True)
    assert row_counts(db) == before


def test_a_bare_post_without_a_body_still_gets_the_csrf_answer(client, demo):
    response = client.post("/logout")
    assert response.status_code == 400 and "Requête invalide" in response.get_data(as_text=True)


def a_siren() -> str:
    return "73282932" + luhn.calc_check_digit("73282932")


def test_flask_admins_own_multipart_forms_still_save(staff_client, db):
    # Flask-Admin's form tag says multipart/form-data (browsers send that) although no field takes a file.
    siren = a_siren()
    token = csrf_token(staff_client, "/admin/companies/new/")
    response = staff_client.post("/admin/companies/new/", content_type="multipart/form-data",
                                 data={"csrf_token": token, "name": "Jakku Salvage", "siren": siren})
    assert response.status_code == 302
    assert db.session.scalar(select(Company.name).where(Company.siren == siren)) == "Jakku Salvage"


@pytest.mark.parametrize("cleaner", [clean_siren, clean_siret, clean_phone, clean_email,
                                     lambda value: clean_text(value, "Le nom", 50)])
@pytest.mark.parametrize("value", [["06 12 34 56 78"], 612345678, {"a": "b"}, b"bytes", 1.5, True, io.BytesIO(b"x")])
def test_every_cleaner_refuses_what_is_not_text_in_french(cleaner, value):
    with pytest.raises(InvalidValue, match="la valeur envoyée n'est pas un texte"):
        cleaner(value)


def test_an_over_long_return_address_is_ignored_for_the_pages_default(staff_client, db):
    token = csrf_token(staff_client, "/admin/users/")
    huge = "/admin/audit/?" + "x" * (1024 * 1024)
    response = staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "nothing", "url": huge})
    assert response.status_code == 302 and response.location == "/admin/users/"
    response = staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "nothing",
                                                                "url": "/admin/audit/?" + "x" * (MAX_RETURN_URL - 14)})
    assert response.status_code == 302 and len(response.location) == MAX_RETURN_URL  # up to the bound, followed
    company = db.session.scalars(select(Company.id)).first()
    page = staff_client.get(f"/admin/companies/edit/?id={company}&url=/admin/" + "y" * MAX_RETURN_URL)
    assert page.status_code == 200 and "y" * 100 not in page.get_data(as_text=True)  # its Cancel and return: the list


def test_an_over_long_next_after_login_lands_on_the_home_page(client, demo):
    token = csrf_token(client, "/login")
    response = client.post("/login?next=/admin/audit/" + "z" * MAX_RETURN_URL,
                           data={"csrf_token": token, "email": STAFF[0], "password": STAFF[1]})
    assert response.status_code == 302 and response.location == "/admin/"
