"""Client managers administer their own establishments' users, and nothing else, on every path."""

import re

import pytest
from sqlalchemy import func, select, update

from models import AccountRequest, AuditEvent, Establishment, Grant, User, utcnow

from ..databases import snapshot
from ..demo import ANNEXE, CANTINA, CHEWIE, LANDO, LUKE, OBIWAN, STAFF, TEMPLE, eid, uid
from ..guide_table import COLUMNS, GUIDE_TABLE
from ..http import csrf_token, grants_post, login


@pytest.fixture
def ahsoka(db, demo):
    """A user of both companies: primary on Temple JEDI, also on the Cantina."""
    user = User(civility="Mme", last_name="Tano", first_name="Ahsoka", email="ahsoka@example.org", phone="0611223344")
    user.grants.append(Grant(establishment_id=eid(db, TEMPLE), is_primary=True))
    user.grants.append(Grant(establishment_id=eid(db, CANTINA), payments=True))
    db.session.add(user)
    db.session.commit()
    return user.id


def listed(client, query=""):
    html = client.get(f"/admin/users/{query}").get_data(as_text=True)
    return int(re.search(r"Nombre total d'utilisateurs : ([\d\u202f]+)", html).group(1).replace("\u202f", "")), re.findall(r'<td class="col-last_name">([^<]*)</td>', html)


# --- who sees what ------------------------------------------------------------------------------------

def test_each_manager_sees_only_their_establishments_users(as_user, ahsoka):
    assert listed(as_user(LUKE)) == (4, ["AMIDALA", "KENOBI", "SKYWALKER", "TANO"])
    assert listed(as_user(OBIWAN)) == (3, ["KENOBI", "SKYWALKER", "TANO"])
    assert listed(as_user(CHEWIE)) == (3, ["CHEWBACCA", "SOLO", "TANO"])
    assert listed(as_user(LUKE), "?actif=non") == (1, ["AMIDALA"])
    assert listed(as_user(LUKE), "?search=solo") == (0, [])


def test_a_manager_lands_on_their_users_and_sees_no_staff_screen(as_user):
    luke = as_user(LUKE)
    assert luke.get("/admin/").location == "/admin/users/"
    for url in ("/admin/companies/", "/admin/establishments/", "/admin/emails/", "/admin/audit/", "/admin/companies/new/"):
        assert luke.get(url).status_code == 403, url
    menu = luke.get("/admin/users/").get_data(as_text=True)
    assert "/admin/companies/" not in menu and "/admin/audit/" not in menu and "/admin/habilitations/" in menu


def test_a_user_without_user_management_gets_the_french_403(as_user):
    lando = as_user(LANDO)
    for url in ("/admin/", "/admin/users/", "/admin/account-requests/", "/admin/habilitations/", "/admin/users/lookup/companies?q=a"):
        response = lando.get(url)
        assert response.status_code == 403, url
    html = lando.get("/admin/users/").get_data(as_text=True)
    assert "Accès refusé" in html and 'href="/account/profile"' in html


@pytest.mark.parametrize("path", ["/admin/users/details/?id={}", "/admin/users/edit/?id={}"])
def test_out_of_scope_records_are_404_on_every_page(as_user, db, path):
    han = uid(db, "han.solo@example.org")
    response = as_user(LUKE).get(path.format(han))
    assert response.status_code == 404 and "Page introuvable" in response.get_data(as_text=True)


def test_forged_posts_on_out_of_scope_users_change_nothing(as_user, db):
    luke = as_user(LUKE)
    han = uid(db, "han.solo@example.org")
    before = snapshot(db)
    token = csrf_token(luke, "/admin/users/")
    edit = luke.post(f"/admin/users/edit/?id={han}", data={"civility": "M.", "last_name": "Solo", "first_name": "Han",
                                                          "email": "han.solo@example.org", "phone": "0698765432",
                                                          "job_title": "Pirate", "version": "1", "csrf_token": token})
    assert edit.status_code == 404
    assert luke.post("/admin/users/delete/", data={"id": str(han), "csrf_token": token}).status_code == 404
    for action in ("deactivate", "activate", "delete", "invite", "export"):
        response = luke.post("/admin/users/action/", data={"csrf_token": token, "action": action, "url": "/admin/users/",
                                                           "rowid": [str(han)]}, follow_redirects=True)
        assert "hors de votre périmètre" in response.get_data(as_text=True), action
        # The same through a row's button (the page's shared row form).
        response = luke.post("/admin/users/row-action/", data={"csrf_token": token, "row_action": f"{action}:{han}",
                                                               "url": "/admin/users/"}, follow_redirects=True)
        assert "hors de votre périmètre" in response.get_data(as_text=True), action
    assert snapshot(db) == before


def test_a_batch_with_one_out_of_scope_id_changes_none_of_them(as_user, db):
    luke = as_user(LUKE)
    ids = [uid(db, "obi-wan.kenobi@example.org"), uid(db, "han.solo@example.org")]
    before = snapshot(db)
    token = csrf_token(luke, "/admin/users/")
    html = luke.post("/admin/users/action/", data={"csrf_token": token, "action": "deactivate", "url": "/", "rowid": [str(i) for i in ids]},
                     follow_redirects=True).get_data(as_text=True)
    assert "1 utilisateur(s) sélectionné(s) hors de votre périmètre" in html
    assert snapshot(db) == before


def test_all_matching_and_export_stay_in_scope(as_user, db):
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    export = luke.post("/admin/users/action/?actif=oui", data={"csrf_token": token, "action": "export", "url": "/", "all_matching": "1"})
    names = [line.split(";")[1] for line in export.get_data(as_text=True).splitlines()[1:]]
    assert names == ["KENOBI", "SKYWALKER"]
    html = luke.post("/admin/users/action/?nom=solo", data={"csrf_token": token, "action": "deactivate", "url": "/", "all_matching": "1"},
                     follow_redirects=True).get_data(as_text=True)
    assert "Aucun utilisateur désactivé." in html  # nobody matching in his perimeter: nothing done, said so
    db.session.expire_all()
    assert db.session.scalar(select(User.active).where(User.email == "han.solo@example.org")) is True


def test_lookups_offer_only_managed_companies_and_establishments(as_user, db):
    luke = as_user(LUKE)
    assert [c["label"] for c in luke.get("/admin/users/lookup/companies?q=e").get_json()["results"]] == ["Temple JEDI – 111385407"]
    cantina_company = db.session.scalar(select(Establishment.company_id).where(Establishment.siret == CANTINA))
    assert luke.get(f"/admin/users/lookup/establishments?company={cantina_company}").get_json()["results"] == []
    obiwan = as_user(OBIWAN)
    assert [e["value"] for e in obiwan.get("/admin/users/lookup/establishments?q=temple").get_json()["results"]] == [TEMPLE]


def test_one_company_means_the_editor_skips_the_company_step(as_user, db):
    html = as_user(LUKE).get(f"/admin/users/edit/?id={uid(db, 'obi-wan.kenobi@example.org')}").get_data(as_text=True)
    assert "Choisissez une entreprise" not in html
    assert "Temple JEDI Annexe Dagobah – 111385407 00023" in html


def test_requests_are_scoped_to_managed_establishments(as_user, db):
    assert "Nombre de demande(s) : 0" in as_user(LUKE).get("/admin/account-requests/").get_data(as_text=True)
    chewie = as_user(CHEWIE)
    html = chewie.get("/admin/account-requests/").get_data(as_text=True)
    assert "Nombre de demande(s) : 1" in html and "SOLO" in html
    jarjar = db.session.scalar(select(AccountRequest.id).where(AccountRequest.last_name == "BINKS"))
    before = snapshot(db)
    for url in (f"/admin/account-requests/approve/{jarjar}", f"/admin/account-requests/refuse/?ids={jarjar}",
                f"/admin/account-requests/details/?id={jarjar}"):
        assert chewie.get(url).status_code == 404, url
    token = csrf_token(chewie, "/admin/account-requests/")
    refused = chewie.post(f"/admin/account-requests/refuse/?ids={jarjar}", data={"reason": "cpf", "csrf_token": token})
    assert refused.status_code == 404
    assert chewie.get(f"/admin/users/new/?request={jarjar}").status_code in (403, 404)
    assert snapshot(db) == before


def test_a_manager_approves_a_rattachement_of_a_user_from_elsewhere(as_user, db):
    """Han (Cantina) asks for Anchorhead: Chewbacca manages both, so he sees Han's page."""
    chewie = as_user(CHEWIE)
    han_request = db.session.scalar(select(AccountRequest.id).where(AccountRequest.last_name == "SOLO"))
    # a claim names a proven address: the demo's Han proves his first
    db.session.execute(update(User).where(User.email == "han.solo@example.org").values(email_verified_at=utcnow()))
    db.session.commit()
    response = chewie.get(f"/admin/account-requests/approve/{han_request}")
    assert "/admin/users/edit/" in response.location


# --- no escalation ----------------------------------------------------------------------------------------

ESCALATIONS = [
    # (who, target, rows as (siret, flags), primary siret, expected French refusal)
    (OBIWAN, "ahsoka@example.org", [(TEMPLE, ["manager"])], TEMPLE, "accès Gestionnaire que sur les établissements"),
    # Detaching Luke from Temple JEDI (a box left out is one the browser could not send: it keeps its value).
    (OBIWAN, "luke.skywalker@example.org", [], TEMPLE, "accès Gestionnaire que sur les établissements"),
    (OBIWAN, "ahsoka@example.org", [(TEMPLE, []), (ANNEXE, ["user_admin"])], TEMPLE, "hors de votre périmètre"),
    (LUKE, "ahsoka@example.org", [(TEMPLE, []), (CANTINA, ["manager"])], TEMPLE, "hors de votre périmètre"),
    (LUKE, "luke.skywalker@example.org", [(TEMPLE, ["manager"])], TEMPLE, "vos propres rattachements"),
    (OBIWAN, "obi-wan.kenobi@example.org", [(TEMPLE, ["funding"])], TEMPLE, "vos propres rattachements"),
]


@pytest.mark.parametrize("who, target, rows, primary, message", ESCALATIONS)
def test_no_escalation_through_the_grant_editor(as_user, db, ahsoka, who, target, rows, primary, message):
    client = as_user(who)
    before = snapshot(db)
    response = grants_post(client, db, uid(db, target), [(eid(db, s), f) for s, f in rows], eid(db, primary))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    assert snapshot(db) == before


def test_a_manager_cannot_make_anyone_staff(as_user, db, ahsoka):
    luke = as_user(LUKE)
    response = grants_post(luke, db, ahsoka, [(eid(db, TEMPLE), ["funding"])], eid(db, TEMPLE), is_staff="y")
    assert response.status_code == 302
    url = "/admin/users/new/"
    created = luke.post(url, data={"civility": "M.", "last_name": "Rex", "first_name": "Capitaine", "email": "rex@example.org",
                                   "phone": "0611223355", "is_staff": "y", "csrf_token": csrf_token(luke, url),
                                   "grants-present": "1", "grants-establishment": [str(eid(db, TEMPLE))],
                                   "grants-primary": str(eid(db, TEMPLE))})
    assert created.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User).where(User.is_staff.is_(True))) == 1


def test_a_manager_must_attach_a_new_user_to_one_of_their_establishments(as_user, db):
    luke = as_user(LUKE)
    url = "/admin/users/new/"
    response = luke.post(url, data={"civility": "M.", "last_name": "Rex", "first_name": "Capitaine", "email": "rex@example.org",
                                    "phone": "0611223355", "csrf_token": csrf_token(luke, url)})
    assert "Rattachez le nouvel utilisateur à au moins un de vos établissements." in response.get_data(as_text=True)
    assert uid(db, "rex@example.org") is None


def test_a_manager_cannot_deactivate_or_delete_themself(as_user, db):
    luke = as_user(LUKE)
    me = uid(db, LUKE[0])
    token = csrf_token(luke, "/admin/users/")
    for action, text in (("deactivate", "désactiver vous-même"), ("delete", "supprimer vous-même")):
        html = luke.post("/admin/users/action/", data={"csrf_token": token, "action": action, "url": "/", "rowid": [str(me)]},
                         follow_redirects=True).get_data(as_text=True)
        assert text in html
    db.session.expire_all()
    assert db.session.get(User, me).active


def test_a_user_with_grants_elsewhere_is_detached_not_deleted(as_user, db, ahsoka):
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    for action in ("delete", "deactivate"):
        html = luke.post("/admin/users/action/", data={"csrf_token": token, "action": action, "url": "/", "rowid": [str(ahsoka)]},
                         follow_redirects=True).get_data(as_text=True)
        assert "aussi rattachés à des établissements hors de votre périmètre" in html
    # The editor shows only Luke's establishments' grant; saving it empty detaches Ahsoka from them.
    page = luke.get(f"/admin/users/edit/?id={ahsoka}").get_data(as_text=True)
    assert "Temple JEDI – 111385407 00015" in page and "Cantina de Mos Eisley" not in page
    assert grants_post(luke, db, ahsoka, [], None).status_code == 302
    db.session.expire_all()
    remaining = db.session.scalars(select(Grant).where(Grant.user_id == ahsoka)).all()
    assert [(g.establishment_id, g.is_primary, g.payments) for g in remaining] == [(eid(db, CANTINA), True, True)]
    assert luke.get(f"/admin/users/edit/?id={ahsoka}").status_code == 404  # no longer in Luke's scope


def test_a_managers_save_keeps_the_grants_they_do_not_see(as_user, db, ahsoka):
    luke = as_user(LUKE)
    assert grants_post(luke, db, ahsoka, [(eid(db, TEMPLE), ["funding", "user_admin"])], eid(db, TEMPLE)).status_code == 302
    db.session.expire_all()
    grants = {g.establishment_id: g for g in db.session.scalars(select(Grant).where(Grant.user_id == ahsoka))}
    assert grants[eid(db, TEMPLE)].funding and grants[eid(db, TEMPLE)].user_admin and grants[eid(db, TEMPLE)].is_primary
    assert grants[eid(db, CANTINA)].payments and not grants[eid(db, CANTINA)].is_primary


def test_a_gestionnaire_may_grant_gestionnaire_on_their_establishment(as_user, db, ahsoka):
    luke = as_user(LUKE)
    assert grants_post(luke, db, ahsoka, [(eid(db, TEMPLE), ["manager"])], eid(db, TEMPLE)).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Grant.manager).where(Grant.user_id == ahsoka, Grant.establishment_id == eid(db, TEMPLE)))


# --- the habilitation matrix page ---------------------------------------------------------------------

LABELS = {"funding": "Prise en charge", "apprenticeship": "Contrat de professionnalisation", "sensitive_data": "Données sensibles",
          "payments": "Collecte / versements", "reporting": "Données des reporting", "user_admin": "Gestion des utilisateurs",
          "manager": "Gestionnaire"}


@pytest.mark.parametrize("who", [STAFF, LUKE])
def test_the_matrix_page_is_the_guides_table(as_user, who):
    html = as_user(who).get("/admin/habilitations/").get_data(as_text=True)
    table = html[html.index('id="habilitation-matrix"'):]
    headers = re.findall(r'<th scope="col">([^<]+)</th>', table)
    assert headers == [LABELS[c] for c in COLUMNS]
    rows = re.findall(r'<th scope="row"[^>]*>([^<]+)</th>(.*?)</tr>', table, re.S)
    assert [r[0].replace("&#39;", "'") for r in rows] == list(GUIDE_TABLE)
    for feature, cells in rows:
        marks = ["✓" in cell for cell in re.findall(r"<td>(.*?)</td>", cells)]
        assert marks == [GUIDE_TABLE[feature.replace("&#39;", "'")][c] for c in COLUMNS]


# --- the audit trail ----------------------------------------------------------------------------------------

def test_audit_trail_records_who_did_what_and_is_filterable_and_exportable(app, as_user, db):
    luke = as_user(LUKE)
    obiwan = uid(db, "obi-wan.kenobi@example.org")
    token = csrf_token(luke, "/admin/users/")
    luke.post("/admin/users/action/", data={"csrf_token": token, "action": "deactivate", "url": "/", "rowid": [str(obiwan)]})
    login(app.test_client(), "luke.skywalker@example.org", "wrong password")
    staff = as_user(STAFF)
    html = staff.get("/admin/audit/?action=user.deactivate").get_data(as_text=True)
    assert "Nombre d&#39;évènements : 1" in html or "Nombre d'évènements : 1" in html
    assert "SKYWALKER Luke &lt;luke.skywalker@example.org&gt;" in html and "KENOBI Obi-Wan" in html and "Actif : Oui → Non" in html
    assert "Échec de connexion" in staff.get("/admin/audit/?action=login.failure").get_data(as_text=True)
    assert "Nombre d'évènements : 0" in staff.get("/admin/audit/?par=nobody").get_data(as_text=True)
    token = csrf_token(staff, "/admin/audit/")
    export = staff.post("/admin/audit/action/?action=user.deactivate", data={"csrf_token": token, "action": "export", "all_matching": "1", "url": "/"})
    lines = export.get_data(as_text=True).splitlines()
    assert lines[0].lstrip("\ufeff").startswith("Date;Par;Action") and len(lines) == 2 and "Désactivation" in lines[1]
    # A manager sees the history of a user in scope on the details page.
    details = luke.get(f"/admin/users/details/?id={obiwan}").get_data(as_text=True)
    assert "Historique" in details and "Désactivation" in details


def test_the_audit_trail_cannot_be_changed_from_the_app(as_user, db):
    staff = as_user(STAFF)
    count = db.session.scalar(select(func.count()).select_from(AuditEvent))
    event_id = db.session.scalar(select(AuditEvent.id).limit(1))
    token = csrf_token(staff, "/admin/audit/")
    staff.post("/admin/audit/delete/", data={"id": str(event_id), "csrf_token": token})
    staff.post(f"/admin/audit/edit/?id={event_id}", data={"action": "x", "csrf_token": token})
    staff.post("/admin/audit/action/", data={"csrf_token": token, "action": "delete", "rowid": [str(event_id)], "url": "/"})
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) >= count
    assert db.session.get(AuditEvent, event_id) is not None


def test_a_details_page_shows_a_manager_only_the_grants_of_their_perimeter(as_user, db, ahsoka):
    """Ahsoka works at Temple JEDI (Luke's) and at the Cantina (another company): Luke sees the first only."""
    html = as_user(LUKE).get(f"/admin/users/details/?id={ahsoka}").get_data(as_text=True)
    assert "Temple JEDI" in html and "hors de votre périmètre" in html
    assert "Cantina" not in html and "Collecte" not in html  # the Cantina grant and its habilitation
    assert "552203358" not in html  # not even its SIREN
    staff = as_user(STAFF).get(f"/admin/users/details/?id={ahsoka}").get_data(as_text=True)
    assert "Cantina" in staff and "hors de votre périmètre" not in staff


def test_a_managers_view_of_the_history_leaves_out_other_companies_grants(as_user, db, ahsoka):
    chewie = as_user(CHEWIE)
    cantina = eid(db, CANTINA)
    response = grants_post(chewie, db, ahsoka, [(cantina, ["payments", "reporting"])], None)
    assert response.status_code == 302
    html = as_user(LUKE).get(f"/admin/users/details/?id={ahsoka}").get_data(as_text=True)
    history = html.split("Historique", 1)[1]
    assert "Cantina" not in history and "552203358" not in history
