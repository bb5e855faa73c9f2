"""The main journeys, in a real browser: what the person sees, and the database afterwards.

Each starts at the login page and goes on by clicks, as a person would: « Mes utilisateurs » from their name,
the filter form, a row's links. URLs are typed only to follow a link received by email and to forge one.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from admin_app.services import Actor, users
from models import AccountRequest, Establishment, User

from ..demo import LUKE, STAFF
from .browser import USERS_LIST, log_in, open_my_users

COUNT = re.compile(r"Nombre total d'utilisateurs : (\d+)")


def count_text(page) -> int:
    return int(COUNT.search(page.locator("#user-count").inner_text()).group(1))


def test_1_filter_by_company_habilitation_and_active_then_reset_and_sort(page):
    log_in(page, *STAFF)
    open_my_users(page)
    page.get_by_label("Entreprise").fill("111385407")
    page.get_by_label("Habilitations").select_option(label="Gestion des utilisateurs")
    page.locator("#f-actif-oui").check()
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("#user-count")).to_have_text("Nombre total d'utilisateurs : 2")
    expect(page.locator("td.col-last_name")).to_have_text(["KENOBI", "SKYWALKER"])
    assert "entreprise=111385407" in page.url and "habilitation=user_admin" in page.url  # bookmarkable

    page.get_by_role("link", name="Réinitialiser le filtre").click()
    expect(page.locator("#user-count")).to_have_text("Nombre total d'utilisateurs : 7")

    page.get_by_role("link", name="Dernière connexion").click()
    expect(page).to_have_url(re.compile(r"sort=6"))
    dates = [d for d in page.locator("td.col-last_login_at").all_inner_texts() if d.strip()]
    as_iso = [f"{d[6:10]}{d[3:5]}{d[0:2]}{d[11:]}" for d in dates]
    assert as_iso == sorted(as_iso) and len(dates) == 6


def test_2_create_a_user_with_two_establishments_through_the_dependent_selects(page, db):
    log_in(page, *STAFF)
    open_my_users(page)
    page.get_by_role("link", name="Ajouter +").click()
    page.get_by_label("Mme").check()
    page.get_by_label("Nom", exact=False).first.fill("Tano")
    page.get_by_label("Prénom").fill("Ahsoka")
    page.get_by_label("Email").fill("ahsoka@example.org")
    page.get_by_label("Téléphone").fill("06 11 22 33 44")

    company = page.get_by_role("combobox", name="Choisissez une entreprise")
    company.press_sequentially("Temple", delay=20)
    suggestions = page.locator("#grant-company-list [role='option']")
    expect(suggestions).to_have_count(1)
    suggestions.first.click()
    expect(company).to_have_value("Temple JEDI – 111385407")
    establishment = page.get_by_role("combobox", name="Choisissez un établissement")
    expect(establishment).to_be_enabled()
    sites = page.locator("#grant-establishment-list [role='option']")
    sites.get_by_text("Temple JEDI – 111385407 00015 – 99019 Coruscant", exact=True).click()
    page.get_by_role("button", name="Ajouter cet établissement").click()
    establishment.press_sequentially("dagobah", delay=20)
    sites.get_by_text("Temple JEDI Annexe Dagobah – 111385407 00023 – 99020 Dagobah", exact=True).click()
    page.get_by_role("button", name="Ajouter cet établissement").click()
    rows = page.locator("#grant-rows .grant-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("input[name='grants-primary']")).to_be_checked()  # the first added is primary

    first, second = rows.nth(0), rows.nth(1)
    first.get_by_label("Accès Gestionnaire").check()
    expect(first.get_by_label("Prise en charge")).to_be_checked()
    expect(first.get_by_label("Prise en charge")).to_be_disabled()  # Gestionnaire ticks and locks the rest
    second.get_by_label("Données des reporting").check()
    second.get_by_label("Établissement principal").check()
    page.get_by_role("button", name="Valider").click()

    expect(page).to_have_url(re.compile(r"/admin/users/edit/\?id=\d+"))
    expect(page.get_by_text("Utilisateur TANO Ahsoka créé")).to_be_visible()
    user = db.session.scalar(select(User).where(User.email == "ahsoka@example.org"))
    grants = {g.establishment.siret: g for g in user.grants}
    assert all(grants["11138540700015"].flags().values()) and not grants["11138540700015"].is_primary
    assert grants["11138540700023"].reporting and grants["11138540700023"].is_primary and not grants["11138540700023"].funding

    # Her profile, as a person finds it: back to the list, her row's « ⋯ » menu, « Voir le profil ».
    open_my_users(page)
    page.get_by_role("button", name="Actions pour TANO Ahsoka").click()
    page.get_by_role("link", name="Voir le profil").click()
    expect(page).to_have_url(re.compile(rf"/admin/users/details/\?id={user.id}&"))
    expect(page.get_by_text("Visualiser les comptes").first).to_be_visible()
    expect(page.get_by_text("Créer un dossier").first).to_be_visible()


def test_3_bulk_deactivate_three_then_reactivate_all_matching(page, db, runner):
    runner.invoke(args=["seed", "volume", "--users", "300"])
    log_in(page, *STAFF)
    open_my_users(page)
    page.get_by_text("Plus d'options de filtre").click()
    page.get_by_label("Email", exact=True).fill("@example.org")
    page.get_by_label("Staff").select_option(label="Non")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"email=%40example\.org&.*staff=non"))
    page.wait_for_load_state()  # the filtered page: a tick on the one before it would be lost
    for label in ("Sélectionner CHEWBACCA Chewie", "Sélectionner KENOBI Obi-Wan", "Sélectionner SKYWALKER Luke"):
        page.get_by_label(label).check()
    expect(page.locator("#selection-status")).to_have_text("3 utilisateur(s) sélectionné(e)s.")
    page.locator("#bulk-action").select_option(label="Désactiver")
    page.get_by_role("button", name="Appliquer").click()
    expect(page.get_by_text("3 utilisateurs désactivés")).to_be_visible()
    deactivated = db.session.scalars(select(User.last_name).where(User.active.is_(False), User.email.like("%@example.org"))).all()
    assert sorted(deactivated) == ["AMIDALA", "CHEWBACCA", "KENOBI", "SKYWALKER"]

    inactive = db.session.scalar(select(func.count()).select_from(User).where(User.active.is_(False)))
    assert inactive > 20  # more than one page: only "select all matching" reaches them all
    page.get_by_role("link", name="Réinitialiser le filtre").click()
    expect(page).to_have_url(re.compile(r"/admin/users/(\?page_size=20)?$"))  # no filter left
    page.get_by_role("group", name="Actif").get_by_label("Non").check()
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"actif=non"))
    page.wait_for_load_state()
    expect(page.locator("#user-count")).to_have_text(f"Nombre total d'utilisateurs : {inactive}")
    page.locator("#select-page").check()
    page.get_by_role("button", name=f"Sélectionner les {inactive} résultats").click()
    expect(page.locator("#selection-status")).to_contain_text(f"Les {inactive} utilisateur(s)")
    page.locator("#bulk-action").select_option(label="Activer")
    page.get_by_role("button", name="Appliquer").click()
    expect(page.get_by_text(f"{inactive} utilisateurs activés")).to_be_visible()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User).where(User.active.is_(False))) == 0


def test_4_approve_jarjar_then_refuse_boba_with_an_emailed_reason(page, db, smtp, runner):
    log_in(page, *STAFF)
    open_my_users(page)  # the guide: « Mes utilisateurs », then its tab « Demandes de création de compte »
    page.get_by_role("link", name="Demandes de création de compte 3 en cours").click()
    expect(page.locator("#request-count")).to_have_text("Nombre de demande(s) : 3")
    page.get_by_title("Valider la demande de Jar-Jar BINKS").click()
    expect(page.locator("#last_name")).to_have_value("BINKS")
    expect(page.locator("#job_title")).to_have_value("Gaffeur du mois")
    row = page.locator("#grant-rows .grant-row")
    expect(row).to_have_count(1)
    expect(row.locator(".establishment-label")).to_have_text("OPCA DEFI – 402820658 00217 – 75008 Paris")
    row.get_by_label("Prise en charge").check()
    page.get_by_role("button", name="Enregistrer et valider la demande").click()
    expect(page.get_by_text("Demande validée")).to_be_visible()
    expect(page.locator("#request-count")).to_have_text("Nombre de demande(s) : 2")
    expect(page.locator("td.col-last_name")).to_have_text(["SOLO", "FETT"])
    jarjar = db.session.scalar(select(User).where(User.email == "jar-jar.binks@example.org"))
    assert jarjar.primary_grant.funding

    page.get_by_title("Refuser la demande de Boba FETT").click()
    page.get_by_label("Salarié à la recherche de la plateforme CPF").check()
    page.get_by_role("button", name="Refuser et envoyer le motif").click()
    expect(page.get_by_text("1 demande refusée : FETT Boba")).to_be_visible()
    assert db.session.scalar(select(AccountRequest.status).where(AccountRequest.last_name == "FETT")) == "refused"
    runner.invoke(args=["send-mail"])
    refusal = next(m for m in smtp.inbox.messages if m["To"] == "boba.fett@example.org")
    assert "moncompteformation.gouv.fr" in refusal.get_body(("plain",)).get_content()


def test_5_the_new_user_verifies_sets_a_password_logs_in_and_sees_their_profile(page, app, db, smtp, runner):
    with app.app_context():
        from admin_app.extensions import db as app_db

        temple = app_db.session.scalar(select(Establishment).where(Establishment.siret == "11138540700015"))
        data = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "ahsoka@example.org", "phone": "0611223344"}
        users.create_user(app_db.session, Actor(), data, [users.GrantInput(temple.id, True, {users.Habilitation.FUNDING})])
        app_db.session.remove()
    runner.invoke(args=["send-mail"])
    page.goto(smtp.inbox.link("Validez votre adresse email"))  # typed on purpose: the link she clicks in her mailbox
    expect(page.get_by_role("heading", name="Adresse email validée")).to_be_visible()
    runner.invoke(args=["send-mail"])
    page.goto(smtp.inbox.link("Créez votre mot de passe"))  # the second email's link, likewise
    page.get_by_label("Nouveau mot de passe").fill("un mot de passe bien long")
    page.get_by_label("Confirmez le mot de passe").fill("un mot de passe bien long")
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.get_by_text("Votre mot de passe est enregistré")).to_be_visible()
    log_in(page, "ahsoka@example.org", "un mot de passe bien long")
    expect(page).to_have_url(re.compile("/account/profile"))
    expect(page.get_by_role("heading", name="Mon profil")).to_be_visible()
    expect(page.get_by_text("Prise en charge", exact=True)).to_be_visible()
    expect(page.get_by_text("Créer un dossier")).to_be_visible()
    assert db.session.scalar(select(User.last_login_at).where(User.email == "ahsoka@example.org")) is not None


def test_6_a_client_manager_sees_only_their_users_and_a_forged_url_gets_the_french_404(page, db):
    log_in(page, *LUKE)
    expect(page).to_have_url(USERS_LIST)
    # The app's name, top left, leads home: for a client manager, his users.
    with page.expect_response(re.compile(r"/admin/$")) as home:
        page.locator("a.navbar-brand").click()
    assert home.value.status == 302
    expect(page).to_have_url(USERS_LIST)
    expect(page.locator("td.col-last_name")).to_have_text(["AMIDALA", "KENOBI", "SKYWALKER"])
    han = db.session.scalar(select(User.id).where(User.email == "han.solo@example.org"))
    response = page.goto(f"/admin/users/edit/?id={han}")  # typed on purpose: an edit URL forged outside his perimeter
    assert response.status == 404
    expect(page.get_by_role("heading", name=re.compile("Page introuvable"))).to_be_visible()


def test_7_keyboard_only_login_and_filters(page):
    page.goto("/login")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'email'")  # autofocus
    page.keyboard.type(STAFF[0])
    page.keyboard.press("Tab")
    page.keyboard.type(STAFF[1])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("/admin/"))
    page.wait_for_load_state()
    on_users_link = ("document.activeElement.matches('#admin-navbar-collapse a.nav-link')"
                     " && document.activeElement.textContent.trim() === 'Mes utilisateurs'")
    for _ in range(30):  # Tab to « Mes utilisateurs » in the menu bar, then Enter
        page.keyboard.press("Tab")
        if page.evaluate(on_users_link):
            break
    assert page.evaluate(on_users_link)
    page.keyboard.press("Enter")
    expect(page).to_have_url(USERS_LIST)
    page.wait_for_load_state()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-nom":
            break
    assert page.evaluate("document.activeElement.id") == "f-nom"
    page.keyboard.type("sky")
    page.keyboard.press("Enter")
    expect(page.locator("#user-count")).to_have_text("Nombre total d'utilisateurs : 1")


def test_8_standard_lists_work_under_the_csp_delete_with_confirmation(page, db):
    """Flask-Admin's own lists (row delete, "Avec la sélection") run without inline handlers."""
    from models import Company

    company = db.session.scalar(select(Company).where(Company.siren == "402820658"))
    db.session.add(Establishment(company=company, name="Vide", siret="40282065800035"))
    db.session.commit()
    log_in(page, *STAFF)
    bar = page.get_by_role("navigation", name="Menu principal")
    bar.get_by_role("button", name="Référentiel").click()
    bar.get_by_role("link", name="Établissements").click()
    expect(page).to_have_url(re.compile(r"/admin/establishments/$"))
    search = page.get_by_role("search")
    search.get_by_role("textbox").fill("Vide")
    search.get_by_role("button", name="Chercher").click()
    expect(page).to_have_url(re.compile(r"search=Vide"))
    page.get_by_role("button", name=re.compile("^Supprimer « Vide")).click()
    expect(page.get_by_text("Établissement « Vide » supprimé.")).to_be_visible()
    assert db.session.scalar(select(func.count()).select_from(Establishment).where(Establishment.name == "Vide")) == 0
