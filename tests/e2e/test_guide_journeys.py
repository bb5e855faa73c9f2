"""The guide's people, end to end: "Cliquez sur votre nom → Cliquez sur « Mes utilisateurs »".

Each journey starts at the login page and goes on by clicking, as a person would; only the 403 check
types a URL, on purpose. The `page` fixture fails any test whose pages log a console error or a CSP report.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..demo import LANDO, LUKE, OBIWAN, STAFF
from .browser import log_in

USERS_LIST = re.compile(r"/admin/users/(\?.*)?$")
PROFILE = re.compile(r"/account/profile$")
BACK_OFFICE = ["Accueil", "Demandes de création de compte", "Entreprises", "Établissements", "Habilitations",
               "Historique", "Emails", "Opérations"]


def name_button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def open_menu(page, name: str):
    """Click the name in the top bar; return the menu it opened."""
    page.wait_for_load_state("domcontentloaded")  # a click can land before the page's scripts ran
    name_button(page, name).click()
    expect(name_button(page, name)).to_have_attribute("aria-expanded", "true")
    menu = page.locator("#user-menu-list")
    expect(menu).to_be_visible()
    return menu


def menu_links(menu) -> list[str]:
    return [text.strip() for text in menu.get_by_role("link").all_inner_texts()]


@pytest.mark.parametrize(
    "who, name, users",
    [(LUKE, "Luke SKYWALKER", ["AMIDALA", "KENOBI", "SKYWALKER"]),  # Gestionnaire of both Temple JEDI sites
     (OBIWAN, "Obi-Wan KENOBI", ["KENOBI", "SKYWALKER"])],  # Gestion des utilisateurs of Temple JEDI only
)
def test_a_delegated_administrator_lands_on_his_users_and_finds_them_again_through_his_name(page, who, name, users):
    log_in(page, *who)
    expect(page).to_have_url(USERS_LIST)
    expect(page.locator("td.col-last_name")).to_have_text(users)

    menu = open_menu(page, name)
    assert menu_links(menu) == ["Gérer son profil", "Mes utilisateurs"]  # the back office is for staff only
    expect(menu.get_by_role("button", name="Se déconnecter")).to_be_visible()
    menu.get_by_role("link", name="Gérer son profil").click()
    expect(page).to_have_url(PROFILE)
    expect(page.get_by_role("heading", name="Mon profil")).to_be_visible()

    # The public pages have the same menu (static/menu.js is loaded there too): back to the users.
    open_menu(page, name).get_by_role("link", name="Mes utilisateurs").click()
    expect(page).to_have_url(USERS_LIST)
    expect(page.get_by_role("heading", name="Mes utilisateurs")).to_be_visible()
    expect(page.locator("td.col-last_name")).to_have_text(users)


def test_a_user_who_administers_nobody_has_no_users_in_his_menu_and_gets_the_french_403(page):
    log_in(page, *LANDO)
    expect(page).to_have_url(PROFILE)
    menu = open_menu(page, "Lando CALRISSIAN")
    assert menu_links(menu) == ["Gérer son profil"]
    expect(page.get_by_role("link", name="Mes utilisateurs")).to_have_count(0)

    response = page.goto("/admin/users/")  # by URL on purpose: the link is nowhere to click
    assert response.status == 403
    expect(page.get_by_role("heading", name=re.compile("Accès refusé"))).to_be_visible()
    expect(page.get_by_text("Vous n'avez pas accès à cette page.")).to_be_visible()
    expect(page.get_by_role("link", name="Mes utilisateurs")).to_have_count(0)
    assert menu_links(open_menu(page, "Lando CALRISSIAN")) == ["Gérer son profil"]


def test_staff_reach_every_back_office_screen_from_their_name_and_from_the_menu_bar(page):
    log_in(page, *STAFF)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    menu = open_menu(page, "Leia ORGANA")
    assert menu_links(menu) == ["Gérer son profil", "Mes utilisateurs", *BACK_OFFICE]
    page.mouse.click(5, 500)  # a click elsewhere closes it
    expect(menu).to_be_hidden()

    # Every screen of the menu opens (and, through the fixture, logs nothing in the console).
    for label in ["Mes utilisateurs", *BACK_OFFICE]:
        open_menu(page, "Leia ORGANA").get_by_role("link", name=label, exact=True).click()
        expect(page.locator("#user-menu-list a[aria-current=page]")).to_have_text(label)  # the menu says where we are

    # The admin bar's own dropdowns (Référentiel, Suivi) open with buttons: no "javascript:" link for the CSP to refuse.
    bar = page.get_by_role("navigation", name="Menu principal")
    for category, screen, url in [("Suivi", "Historique", "/admin/audit/"), ("Référentiel", "Établissements", "/admin/establishments/"),
                                  ("Suivi", "Emails", "/admin/emails/"), ("Référentiel", "Entreprises", "/admin/companies/")]:
        page.wait_for_load_state("domcontentloaded")
        bar.get_by_role("button", name=category).click()
        bar.get_by_role("link", name=screen).click()
        expect(page).to_have_url(re.compile(re.escape(url)))

    # Flask-Admin's own lists: their dropdowns ("20 par page", "Avec la sélection") are "javascript:" links.
    page.wait_for_load_state()
    page.get_by_role("link", name="20 par page").click()
    expect(page.get_by_role("link", name="50 par page")).to_be_visible()
    page.get_by_role("button", name="Avec la sélection").click()
    expect(page.locator(".dropdown-menu.show")).to_have_count(1)

    open_menu(page, "Leia ORGANA").get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(name_button(page, "Leia ORGANA")).to_have_count(0)


def test_the_name_menu_works_with_the_keyboard(page):
    log_in(page, *LUKE)
    expect(page).to_have_url(USERS_LIST)
    button = name_button(page, "Luke SKYWALKER")
    for _ in range(40):  # from the top of the page, Tab until the name is reached
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "user-menu-button":
            break
    expect(button).to_be_focused()

    page.keyboard.press("Enter")  # opens, and puts the focus on the first entry
    expect(button).to_have_attribute("aria-expanded", "true")
    menu = page.locator("#user-menu-list")
    expect(menu.get_by_role("link", name="Gérer son profil")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("link", name="Mes utilisateurs")).to_be_focused()
    page.keyboard.press("Escape")  # closes, and gives the focus back to the name
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()

    page.keyboard.press(" ")  # Space opens too
    expect(menu.get_by_role("link", name="Gérer son profil")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(PROFILE)

    # On the public pages as well: Tab through the menu to its end, then past it, closes it.
    button = name_button(page, "Luke SKYWALKER")
    button.focus()
    page.keyboard.press("Enter")
    expect(menu.get_by_role("link", name="Gérer son profil")).to_be_focused()
    page.keyboard.press("End")
    expect(menu.get_by_role("button", name="Se déconnecter")).to_be_focused()
    page.keyboard.press("Tab")
    expect(menu).to_be_hidden()
    button.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("link", name="Mes utilisateurs")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(USERS_LIST)


def test_the_whole_dashboard_card_is_the_link(page):
    log_in(page, *STAFF)
    card = page.locator(".home-card", has_text="Utilisateurs inactifs")
    box = card.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 8, box["y"] + box["height"] - 8)  # a corner, far from the number
    expect(page).to_have_url(re.compile(r"/admin/users/\?actif=non"))
    expect(page.locator("td.col-last_name")).to_have_text(["AMIDALA"])


def test_the_request_form_marks_required_fields_and_focuses_the_first_refused_one(page):
    page.goto("/login")
    page.get_by_role("link", name="Demander la création d'un compte").click()
    def field(name):  # by its accessible name: the label without its "*" (hidden from screen readers)
        return page.get_by_role("textbox", name=name, exact=True)

    for name in ("Nom", "Prénom", "Email professionnel", "Téléphone", "Raison sociale", "SIRET de l'établissement"):
        expect(field(name)).to_have_attribute("required", "")
        expect(page.locator(f"label[for='{field(name).get_attribute('id')}'] .required-mark")).to_have_text("*")
    assert field("Fonction").get_attribute("required") is None
    expect(page.get_by_role("radiogroup", name="Civilité")).to_have_attribute("aria-required", "true")

    page.get_by_role("radio", name="M.", exact=True).check()
    field("Nom").fill("Tano")
    field("Prénom").fill("Ahsoka")
    field("Téléphone").fill("06 11 22 33 44")
    field("Raison sociale").fill("Temple JEDI")
    field("SIRET de l'établissement").fill("11138540700015")
    page.get_by_role("button", name="Envoyer ma demande").click()  # the email is missing

    email = field("Email professionnel")
    expect(email).to_be_focused()
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("L'adresse email est obligatoire.")).to_be_in_viewport()


def test_the_site_has_an_icon(page):
    page.goto("/login")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(icon).status == 200
    favicon = page.request.get("/favicon.ico")  # asked by browsers and crawlers whatever the page names
    assert favicon.status == 200 and favicon.headers["content-type"] == "image/vnd.microsoft.icon"


@pytest.mark.parametrize("who, name", [(STAFF, "Leia ORGANA"), (LUKE, "Luke SKYWALKER")])
def test_the_open_menu_has_no_serious_accessibility_violation(page, axe, who, name):
    log_in(page, *who)
    open_menu(page, name)
    violations = axe(page)
    assert not violations, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations]
    page.get_by_role("link", name="Gérer son profil").click()
    open_menu(page, name)
    violations = axe(page)
    assert not violations, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations]


@pytest.mark.parametrize("typed, found", [("luke skywalker", ["SKYWALKER"]), ("obi wan", ["KENOBI"]),
                                          ("Obi Wan Kenobi", ["KENOBI"])])
def test_the_name_filter_finds_people_however_their_name_is_typed(page, typed, found):
    log_in(page, *STAFF)
    page.locator("#admin-navbar-collapse a.nav-link", has_text="Mes utilisateurs").click()
    expect(page).to_have_url(USERS_LIST)
    page.get_by_label("Nom / Prénom").fill(typed)
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("td.col-last_name")).to_have_text(found)
    expect(page.get_by_label("Nom / Prénom")).to_have_value(typed)  # the filter stays in the URL and the field


def test_refusing_in_bulk_asks_once_the_reason_form_being_the_confirmation(page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, *STAFF)
    page.locator("#admin-navbar-collapse a.nav-link", has_text="Demandes de création de compte").click()
    page.locator(".row-select").first.check()
    page.locator("#bulk-action").select_option(label="Refuser…")
    page.locator("#bulk-form button[type=submit]").click()
    expect(page.get_by_role("button", name="Refuser et envoyer le motif")).to_be_visible()
    assert dialogs == []
