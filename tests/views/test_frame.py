"""The frame of every page: the name menu, where a login lands, the one date format, SIRETs, the icon."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import AccountRequest

from ..demo import LANDO, LUKE, OBIWAN, STAFF
from ..http import login

BACK_OFFICE = ["Accueil", "Demandes de création de compte", "Entreprises", "Établissements", "Habilitations", "Historique",
               "Emails", "Opérations"]


def name_menu(html: str) -> tuple[str, list[str]]:
    """The name on the menu button and the labels of the menu's links, in order."""
    name = re.search(r'id="user-menu-button"[^>]*>\s*([^<]+?)\s*<span', html, re.S).group(1)
    menu = re.search(r'<ul class="user-menu-list".*?</form>', html, re.S).group(0)
    return name, re.findall(r'class="user-menu-item" href="[^"]+"[^>]*>([^<]+)</a>', menu)


@pytest.mark.parametrize(
    "who, lands_on, name, entries",
    [(STAFF, "/admin/", "Leia ORGANA", ["Gérer son profil", "Mes utilisateurs", *BACK_OFFICE]),
     (LUKE, "/admin/users/", "Luke SKYWALKER", ["Gérer son profil", "Mes utilisateurs"]),  # Gestionnaire
     (OBIWAN, "/admin/users/", "Obi-Wan KENOBI", ["Gérer son profil", "Mes utilisateurs"]),  # Gestion des utilisateurs
     (LANDO, "/account/profile", "Lando CALRISSIAN", ["Gérer son profil"])],  # administers nobody
)
def test_each_person_lands_where_the_guide_says_and_gets_the_menu_of_their_perimeter(client, demo, who, lands_on, name,
                                                                                       entries):
    assert login(client, *who).location == lands_on
    for page in ("/account/profile", lands_on):  # the public frame and the back office's show the same menu
        html = client.get(page).get_data(as_text=True)
        assert name_menu(html) == (name, entries), page
        assert 'aria-expanded="false" aria-controls="user-menu-list"' in html
        assert re.search(r'<form method="post" action="/logout">\s*<input type="hidden" name="csrf_token"', html)
        assert '<script src="/static/menu.js"' in html  # no inline script: the CSP forbids them


def test_the_menu_marks_the_page_it_is_on(staff_client):
    html = staff_client.get("/admin/audit/").get_data(as_text=True)
    assert '<a class="user-menu-item" href="/admin/audit/" aria-current="page">Historique</a>' in html


def test_anonymous_pages_have_no_menu_and_the_error_page_offers_the_way_back(client, demo):
    assert "user-menu" not in client.get("/login").get_data(as_text=True)
    login(client, *LUKE)
    html = client.get("/admin/companies/").get_data(as_text=True)  # staff only: the French 403
    assert "Accès refusé" in html
    assert '<a href="/account/profile">Aller à mon profil</a>' in html and '<a href="/admin/users/">Mes utilisateurs</a>' in html
    assert "Retour à l'administration" not in html


def test_the_back_office_categories_open_with_buttons_not_javascript_links(staff_client):
    html = staff_client.get("/admin/").get_data(as_text=True)
    for category in ("Référentiel", "Suivi"):
        assert re.search(rf'<button type="button" class="btn btn-link nav-link dropdown-toggle"[^>]*>{category}</button>', html)
    assert "javascript:" not in html.split("<main")[0]  # the CSP refuses them, with a console error


def test_every_date_is_shown_the_same_way_in_paris_time(staff_client, db):
    boba = db.session.scalar(select(AccountRequest.id).where(AccountRequest.last_name == "FETT"))
    listed = staff_client.get("/admin/account-requests/").get_data(as_text=True)
    details = staff_client.get(f"/admin/account-requests/details/?id={boba}").get_data(as_text=True)
    # 2018-05-05T11:00:00+02:00 in the demo data
    assert ">05/05/2018 11:00</td>" in listed and "05/05/2018 11:00</dd>" in details
    assert not re.search(r"\d\d-\d\d-\d{4}|\d\d:\d\d:\d\d", listed + details)


def test_the_refusal_page_shows_the_siret_spaced(staff_client, db):
    boba = db.session.scalar(select(AccountRequest.id).where(AccountRequest.last_name == "FETT"))
    html = staff_client.get(f"/admin/account-requests/refuse/?ids={boba}").get_data(as_text=True)
    assert "(SIRET 732829320 00017)" in html and "73282932000017" not in html


def test_the_whole_dashboard_card_is_a_link_named_by_its_number_and_label(staff_client):
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert ('<a class="stretched-link" href="/admin/users/?actif=non">1<span class="sr-only"> – Utilisateurs inactifs</span></a>'
            in html)


def test_the_site_has_an_icon_at_the_usual_address_too(client):
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/login").get_data(as_text=True)
    assert client.get("/static/favicon.svg").status_code == 200
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.content_type == "image/vnd.microsoft.icon"
    assert "no-store" not in response.headers.get("Cache-Control", "")  # a static file, cacheable


def test_the_request_form_marks_every_required_field(client):
    html = client.get("/account/request").get_data(as_text=True)
    assert "Les champs marqués d'un" in html and "data-focus-first-error" in html
    for field in ("last_name", "first_name", "email", "phone", "company_name", "siret"):
        label = re.search(rf'<label for="{field}">(.*?)</label>', html).group(1)
        assert label.endswith('<span class="required-mark" aria-hidden="true">*</span>'), field
        assert re.search(rf'<input[^>]*\bid="{field}"[^>]*\brequired\b', html), field
    assert "required-mark" not in re.search(r'<label for="job_title">(.*?)</label>', html).group(1)
    assert not re.search(r'<input[^>]*\bid="job_title"[^>]*\brequired\b', html)
    assert 'role="radiogroup" aria-required="true"' in html


def test_a_refused_request_marks_the_fields_in_error(client):
    from ..http import csrf_token

    token = csrf_token(client, "/account/request")
    html = client.post("/account/request", data={"csrf_token": token, "last_name": "Tano"}).get_data(as_text=True)
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="first_name"|<input[^>]*id="first_name"[^>]*aria-invalid="true"', html)
    assert not re.search(r'<input[^>]*id="last_name"[^>]*aria-invalid', html)
    assert 'aria-invalid="true" aria-describedby="civility-help"' in html
