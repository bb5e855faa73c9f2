"""The company and establishment pickers at scale, in a real browser, from the login page on, by clicks and keys."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Establishment, Grant, User

from ..demo import LUKE, STAFF
from ..services import factories
from .browser import log_in


@pytest.fixture
def cabinets(db):
    """26 companies whose names share "Cabinet", one user attached to "Cabinet Martin c"."""
    made = {}
    for name in ["Cabinet"] + [f"Cabinet Martin {factories._letters(i)}" for i in range(25)]:
        made[name] = factories.establishment(db.session, factories.company(db.session, name=name), name=name)
    factories.user(db.session, [(made["Cabinet Martin c"], factories.NONE)], name="Padmé")
    db.session.commit()
    return made


def open_users(page):
    log_in(page, *STAFF)
    page.locator("#admin-navbar-collapse .nav-link", has_text="Mes utilisateurs").click()
    expect(page).to_have_url(re.compile(r"/admin/users/"))


def test_the_company_filter_with_more_than_twenty_matches(page, cabinets, axe):
    open_users(page)
    field = page.get_by_role("combobox", name="Entreprise")
    field.press_sequentially("cabinet", delay=20)
    listbox = page.get_by_role("listbox", name="Suggestions")
    expect(listbox.get_by_role("option")).to_have_count(20)
    expect(page.get_by_text("6 autres résultats : précisez", exact=True)).to_be_visible()
    first = listbox.get_by_role("option").first
    expect(first).to_contain_text("Cabinet")
    expect(first).to_contain_text("SIREN " + cabinets["Cabinet"].siren)
    expect(first).to_contain_text("Paris · 1 établissement")
    assert not axe(page), "the open suggestions must pass axe"

    field.press_sequentially(" martin c", delay=20)
    expect(listbox.get_by_role("option")).to_have_count(1)
    field.press("ArrowDown")
    expect(field).to_have_attribute("aria-activedescendant", re.compile(r"-0$"))
    field.press("Enter")
    siren = cabinets["Cabinet Martin c"].siren
    expect(field).to_have_value(f"Cabinet Martin c – {siren}")
    expect(field).to_have_attribute("aria-expanded", "false")
    page.get_by_role("button", name="Filtrer").click()

    assert f"entreprise={siren}" in page.url  # the URL keeps the SIREN: bookmarkable
    spaced = f"{siren[:3]} {siren[3:6]} {siren[6:]}"
    expect(page.locator("#filter-heading")).to_have_text(f"Entreprise : Cabinet Martin c (SIREN {spaced})")
    expect(page.get_by_role("combobox", name="Entreprise")).to_have_value(f"Cabinet Martin c – {siren}")
    expect(page.locator("#user-count")).to_have_text("Nombre total d'utilisateurs : 1")
    expect(page.locator("td.col-last_name")).to_have_text(["PADMÉ"])


def test_the_grant_editor_with_a_company_of_1500_establishments(page, db):
    network = factories.big_company(db.session)
    db.session.commit()
    open_users(page)
    page.get_by_role("link", name="Ajouter +").click()
    page.get_by_label("Mme").check()
    page.get_by_label("Nom", exact=False).first.fill("Tano")
    page.get_by_label("Prénom").fill("Ahsoka")
    page.get_by_label("Email").fill("ahsoka@example.org")
    page.get_by_label("Téléphone").fill("06 11 22 33 44")

    establishment = page.get_by_role("combobox", name="Choisissez un établissement")
    expect(establishment).to_be_disabled()
    expect(page.locator("#grant-establishment-hint")).to_have_text("Choisissez d'abord une entreprise.")  # said, not silent
    company = page.get_by_role("combobox", name="Choisissez une entreprise")
    company.press_sequentially(network.siren, delay=20)
    # A full SIREN is a choice: no click on the suggestion needed.
    expect(page.locator("#grant-company-chosen")).to_have_text(
        f"Entreprise choisie : Réseau National (SIREN {network.siren}) – Marseille · 1\u202f500 établissements")
    expect(establishment).to_be_enabled()
    company.press("Escape")
    expect(company).to_have_attribute("aria-expanded", "false")

    establishment.click()
    options = page.locator("#grant-establishment-list").get_by_role("option")
    expect(options).to_have_count(20)
    expect(page.get_by_text("Plus de 1\u202f000 résultats : précisez", exact=True)).to_be_visible()
    establishment.press_sequentially("grenoble", delay=20)
    expect(page.get_by_text("Aucun établissement ne correspond", exact=True).first).to_be_visible()
    expect(options).to_have_count(0)

    establishment.fill("")
    establishment.press_sequentially("lyon 0777", delay=20)
    expect(options).to_have_count(1)
    establishment.press("ArrowDown")
    establishment.press("Enter")  # chooses the suggestion
    label = re.compile(r"^Réseau National Lyon 0777 – \d{9} \d{5} – 69001 Lyon$")
    expect(establishment).to_have_value(label)
    establishment.press("Enter")  # a chosen establishment: Enter adds it, as "+" does
    rows = page.locator("#grant-rows .grant-row")
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator(".establishment-label")).to_have_text(label)

    establishment.press_sequentially("31000", delay=20)
    expect(options).to_have_count(20)
    options.nth(2).click()
    page.get_by_role("button", name="Ajouter cet établissement").click()
    expect(rows).to_have_count(2)
    rows.nth(1).get_by_label("Données des reporting").check()
    page.get_by_role("button", name="Valider").click()

    expect(page.get_by_text("Utilisateur TANO Ahsoka créé")).to_be_visible()
    user = db.session.scalar(select(User).where(User.email == "ahsoka@example.org"))
    grants = db.session.execute(select(Establishment.name, Establishment.postal_code, Grant.is_primary, Grant.reporting)
                                .join(Grant.establishment).where(Grant.user_id == user.id).order_by(Establishment.name)).all()
    assert sorted((g.postal_code, g.is_primary, g.reporting) for g in grants) == [("31000", False, True), ("69001", True, False)]
    assert any(g.name == "Réseau National Lyon 0777" for g in grants)


def test_a_manager_of_one_company_types_ahead_among_its_sites_by_keyboard(page, db):
    """Luke administers Temple JEDI only: no company step; the establishment field is a type-ahead at once."""
    log_in(page, *LUKE)
    obiwan = db.session.scalar(select(User.id).where(User.email == "obi-wan.kenobi@example.org"))
    page.get_by_role("link", name="Éditer KENOBI Obi-Wan").click()  # he lands on his users: Obi-Wan's row
    expect(page).to_have_url(re.compile(rf"/admin/users/edit/\?id={obiwan}&"))
    expect(page.locator("#grant-single-company")).to_have_text("Entreprise : Temple JEDI (SIREN 111385407)")
    expect(page.get_by_role("combobox", name="Choisissez une entreprise")).to_have_count(0)
    field = page.get_by_role("combobox", name="Choisissez un établissement")
    field.press_sequentially("coruscant", delay=20)
    expect(page.locator("#grant-establishment-list [role='option']")).to_have_count(1)
    field.press("ArrowDown")
    field.press("Escape")
    expect(field).to_have_attribute("aria-expanded", "false")
    field.press("ArrowDown")  # opens again
    expect(field).to_have_attribute("aria-expanded", "true")
    field.press("ArrowDown")
    field.press("Enter")
    expect(field).to_have_value("Temple JEDI – 111385407 00015 – 99019 Coruscant")
    field.press("Enter")
    expect(page.locator("#grant-message")).to_have_text("Cet établissement est déjà dans la liste.")
