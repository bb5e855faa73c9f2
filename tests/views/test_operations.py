"""Bulk actions as operations, through HTTP: the message says both counts, « Annuler cette opération » is a
POST that restores exactly what was changed, Historique shows one line per operation opening onto its
users, each user's history lists it; refusals are French and change nothing."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Habilitation, Operation, OperationItem, utcnow

from ..databases import states
from ..http import NEVER, csrf_token, text
from ..services import factories as f


@pytest.fixture
def cast(db):
    """One establishment, its Gestionnaire (who logged in before) and five client users there who never logged in,
    the first of them already inactive: the case of the issue. Staff logs in as a member of its own."""
    site = f.establishment(db.session)
    manager = f.member(db.session, [(site, f.MANAGER)])
    manager.last_login_at = utcnow()
    never = [f.user(db.session, [(site, [Habilitation.FUNDING])], active=n > 0) for n in range(5)]
    db.session.commit()
    return SimpleNamespace(site=site, manager=manager, matching=[u.id for u in never], already=[never[0].id])


@pytest.fixture
def staff_client(db, as_member):
    return as_member(f.member(db.session, staff=True))


@pytest.fixture
def prepared(cast):
    """(the users never logged in, [the one already inactive]), as the demo-based fixture of the same name says."""
    return cast.matching, cast.already


def deactivate_all_matching(client, query=NEVER):
    token = csrf_token(client, f"/admin/users/{query}")
    return client.post(f"/admin/users/action/{query}", data={"csrf_token": token, "action": "deactivate", "all_matching": "1",
                                                             "url": f"/admin/users/{query}"}, follow_redirects=True)


def undo(client, operation_id, token=None):
    token = token or csrf_token(client, "/admin/users/")
    return client.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(operation_id),
                                                             "url": "/admin/users/"}, follow_redirects=True)


def test_deactivate_all_matching_says_both_counts_and_undo_restores_exactly(staff_client, db, prepared):
    matching, already = prepared
    page = text(deactivate_all_matching(staff_client))
    changed = len(matching) - len(already)
    assert f"{changed} utilisateurs désactivés, 1 l'était déjà." in page
    assert "Annuler cette opération" in page and 'name="operation"' in page
    operation = db.session.scalar(select(Operation))
    assert (operation.changed, operation.unchanged, operation.scope) == (changed, 1, "filtre : Dernière connexion : jamais connecté")
    assert all(not active for active in states(db, matching).values())

    page = text(undo(staff_client, operation.id))
    assert f"Opération annulée : {changed} utilisateurs rétablis." in page
    after = states(db, matching)
    assert [i for i, active in after.items() if not active] == already  # the already inactive stay inactive
    assert "Annuler cette opération" not in page  # offered once, with the result


def test_the_offer_is_shown_once_and_replays_are_refused(staff_client, db, prepared):
    deactivate_all_matching(staff_client)
    assert "Annuler cette opération" not in text(staff_client.get("/admin/users/"))
    operation = db.session.scalar(select(Operation.id))
    undo(staff_client, operation)
    page = text(undo(staff_client, operation))
    assert "Cette opération a déjà été annulée. Aucun utilisateur n'a été modifié." in page
    assert db.session.scalar(select(func.count()).select_from(Operation).where(Operation.kind == "undo")) == 1


@pytest.mark.parametrize("value", ["", "abc", "1 OR 1=1", "99999999999999999999", "424242"])
def test_a_forged_or_unknown_operation_is_refused_in_french(staff_client, db, prepared, value):
    before = states(db, prepared[0])
    page = text(undo(staff_client, value))
    assert "Cette opération n'existe pas." in page
    assert states(db, prepared[0]) == before


def test_undo_is_a_post_with_the_csrf_token(staff_client, db, prepared):
    deactivate_all_matching(staff_client)
    operation = db.session.scalar(select(Operation.id))
    assert staff_client.get(f"/admin/users/undo-operation/?operation={operation}").status_code == 405
    response = staff_client.post("/admin/users/undo-operation/", data={"operation": str(operation)})
    assert response.status_code == 400 and "formulaire expiré ou incomplet" in text(response)
    assert db.session.get(Operation, operation).undone_at is None
    assert all(not active for active in states(db, prepared[0]).values())


def test_a_manager_cannot_undo_nor_open_staffs_operation(staff_client, as_member, db, cast, prepared):
    deactivate_all_matching(staff_client)
    operation = db.session.scalar(select(Operation.id))
    luke = as_member(cast.manager)
    page = text(undo(luke, operation))
    assert "Seul son auteur, ou le staff, peut annuler cette opération." in page
    assert all(not active for active in states(db, prepared[0]).values())
    assert luke.get(f"/admin/operations/details/?id={operation}").status_code == 404
    assert "operations-table" in text(luke.get("/admin/operations/")) and "Aucune opération." in text(luke.get("/admin/operations/"))


def test_an_expired_operation_offers_no_undo_and_refuses_it(app, staff_client, db, prepared):
    app.config["OPERATION_UNDO_HOURS"] = 1
    try:
        deactivate_all_matching(staff_client)
        operation = db.session.scalar(select(Operation))
        operation.created_at -= timedelta(hours=2)
        db.session.commit()
        page = text(undo(staff_client, operation.id))
        assert "Cette opération date de plus de 1 h : elle ne peut plus être annulée." in page
        assert "Annuler cette opération" not in text(staff_client.get(f"/admin/operations/details/?id={operation.id}"))
    finally:
        app.config["OPERATION_UNDO_HOURS"] = 24
    assert all(not active for active in states(db, prepared[0]).values())


def test_historique_shows_one_line_per_operation_opening_onto_its_users(staff_client, db, prepared):
    matching, already = prepared
    deactivate_all_matching(staff_client)
    operation = db.session.scalar(select(Operation))
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.deactivate")) == 1
    trail = text(staff_client.get("/admin/audit/"))
    line = f"Désactivation de {operation.changed} utilisateurs — filtre : Dernière connexion : jamais connecté"
    assert f'<a href="/admin/operations/details/?id={operation.id}">{line}</a>' in trail
    assert "Actif : Oui → Non" in trail and f"Déjà dans cet état : {operation.unchanged}" in trail

    details = text(staff_client.get(f"/admin/operations/details/?id={operation.id}"))
    assert line in details and "Annuler cette opération" in details
    assert details.count("Oui → Non") == operation.changed
    labels = db.session.scalars(select(OperationItem.user_label).where(OperationItem.operation_id == operation.id)).all()
    assert all(label in details for label in labels)

    # Each user's own history lists it, with the link to the operation.
    user = next(i for i in matching if i not in already)
    history = text(staff_client.get(f"/admin/users/details/?id={user}"))
    assert f"Opération n° {operation.id} : {line}" in history and "Actif : Oui → Non" in history
    assert f'href="/admin/operations/details/?id={operation.id}"' in history

    undo(staff_client, operation.id)
    details = text(staff_client.get(f"/admin/operations/details/?id={operation.id}"))
    assert "Annulée le" in details and "Annuler cette opération" not in details
    history = text(staff_client.get(f"/admin/users/details/?id={user}"))
    assert "Annulation" in history and "Annulé depuis" in history and "Actif : Non → Oui" in history


def test_operation_pages_refuse_bad_ids(staff_client, db):
    for value in ("", "abc", "-1", "99999999999999999999", "5"):
        assert staff_client.get(f"/admin/operations/details/?id={value}").status_code == 404
    assert staff_client.get("/admin/operations/?page=-3").status_code == 200


def test_a_manager_undoes_their_own_operation(as_member, db, cast):
    luke = as_member(cast.manager)
    padme = f.user(db.session, [(cast.site, [Habilitation.REPORTING])], active=False)  # inactive, on the manager's site
    padme.last_name, padme.first_name, padme.email = "Amidala", "Padmé", "padme.amidala@example.org"
    db.session.commit()
    padme = padme.id
    token = csrf_token(luke, "/admin/users/")
    page = text(luke.post("/admin/users/action/", data={"csrf_token": token, "action": "activate", "rowid": [str(padme)],
                                                        "url": "/admin/users/"}, follow_redirects=True))
    assert "1 utilisateur activé." in page and "Annuler cette opération" in page
    operation = db.session.scalar(select(Operation))
    assert operation.scope == "AMIDALA Padmé <padme.amidala@example.org>"
    assert luke.get(f"/admin/operations/details/?id={operation.id}").status_code == 200
    assert "Opération annulée : 1 utilisateur rétabli." in text(undo(luke, operation.id))
    assert states(db, [padme]) == {padme: False}


def test_deletion_says_it_is_definitive_and_cannot_be_undone(staff_client, db, cast):
    han = cast.matching[1]
    token = csrf_token(staff_client, "/admin/users/")
    page = text(staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "delete", "rowid": [str(han)],
                                                                "url": "/admin/users/"}, follow_redirects=True))
    assert "1 utilisateur supprimé, définitivement : une suppression ne peut pas être annulée." in page
    assert "Annuler cette opération" not in page
    operation = db.session.scalar(select(Operation.id))
    assert "Une suppression est définitive : elle ne peut pas être annulée." in text(undo(staff_client, operation))
    assert "Impossible : une suppression est définitive." in text(staff_client.get(f"/admin/operations/details/?id={operation}"))


def test_activate_and_send_links_says_both_counts_and_the_links(staff_client, db, cast):
    padme, luke = cast.already[0], cast.manager.id  # one inactive, one active
    token = csrf_token(staff_client, "/admin/users/")
    page = text(staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "activate_links", "url": "/admin/users/",
                                                                "rowid": [str(padme), str(luke)]}, follow_redirects=True))
    assert "1 utilisateur activé, 1 l'était déjà ; 2 liens envoyés par email." in page and "Annuler cette opération" in page


def test_the_filter_is_told_in_words():
    from admin_app.services.bulk import filter_in_words
    from models.queries import UserFilter

    wanted = UserFilter(actif="oui", habilitation="manager", connexion="jamais", connexion_avant="2026-01-31", entreprise="Temple")
    assert filter_in_words(wanted, "luke") == ("Recherche : « luke » ; Actif : Oui ; Habilitation : Gestionnaire ; Entreprise : « Temple » ; "
                                               "Dernière connexion : jamais connecté ; Connecté pour la dernière fois avant le 31/01/2026")
    assert filter_in_words(UserFilter()) == "tous les utilisateurs"
