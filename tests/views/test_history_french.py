"""The history speaks French: screen labels, Oui/Non, habilitation names, Paris dates; the CSV keeps the JSON."""

import html
import json
import re

from sqlalchemy import select

from admin_app.filters import AUDIT_FIELDS, audit_lines
from admin_app.services import Actor
from admin_app.services import bulk as bulk_service
from admin_app.services import requests as request_service
from admin_app.services import users as user_service
from models import AccountRequest, AuditEvent, Establishment, User
from models.habilitations import Habilitation
from models.wording import thousands

from ..http import csrf_token

# "reporting" and "principal" are French words too ("Données des reporting", "Établissement principal"): the
# unit test below checks how they are told.
CODES = ["True", "False", "None", "[", "{", *(h.value for h in Habilitation if h is not Habilitation.REPORTING),
         *(k for k in AUDIT_FIELDS if "_" in k), "active", "is_staff", "kind", "pending", "refused", "opening",
         "attachment", "verify_email", "set_password"]


def codes_in(text: str) -> list[str]:
    return [c for c in CODES if (c in text if c in "[{" else re.search(rf"(?<![\w.@-]){re.escape(c)}(?![\w.@-])", text))]


def visible_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def make_changes(app, db):
    with app.test_request_context():
        return _make_changes(db.session)


def _make_changes(session):
    staff = session.scalar(select(User).where(User.email == "staff@example.org"))
    actor = Actor(staff)
    luke = session.scalar(select(User).where(User.email == "luke.skywalker@example.org"))
    data = {n: getattr(luke, n) for n in user_service.PERSONAL_FIELDS}
    user_service.update_user(session, actor, luke, luke.version, {**data, "job_title": "Maître Jedi", "last_name": "Skywalker-Solo"})
    han = session.scalar(select(User).where(User.email == "han.solo@example.org"))
    other = session.scalar(select(Establishment).where(Establishment.id.not_in([g.establishment_id for g in han.grants])))
    rows = [user_service.GrantInput(g.establishment_id, g.is_primary, {Habilitation.FUNDING, Habilitation.REPORTING}) for g in han.grants]
    rows.append(user_service.GrantInput(other.id, False, {Habilitation.MANAGER}))
    user_service.save_grants(session, actor, han, rows)
    bulk_service.set_active(session, actor, [han.id], False)
    bulk_service.activate_and_send_links(session, actor, [han.id])
    bulk_service.resend_invitations(session, actor, [han.id])
    pending = session.scalars(select(AccountRequest).where(AccountRequest.status == "pending").order_by(AccountRequest.id)).all()
    request_service.approve_many(session, actor, [pending[0].id])
    request_service.refuse_requests(session, actor, [pending[-1].id], "cpf")
    return luke.id, han.id


def test_the_history_of_real_changes_shows_no_code_value(app, staff_client, db):
    luke, han = make_changes(app, db)
    for user in (luke, han):
        page = staff_client.get(f"/admin/users/details/?id={user}").get_data(as_text=True)
        history = visible_text(page[page.index('<h2 class="h5 mt-4">Historique</h2>'):])
        assert codes_in(history) == [], history
    luke_page = visible_text(staff_client.get(f"/admin/users/details/?id={luke}").get_data(as_text=True))
    assert "Fonction : Directeur des Ressources Jedi → Maître Jedi" in luke_page
    han_page = visible_text(staff_client.get(f"/admin/users/details/?id={han}").get_data(as_text=True))
    assert "Actif : Oui → Non" in han_page and "Actif : Non → Oui" in han_page
    assert "Habilitations : " in han_page and "Prise en charge, Données des reporting" in han_page
    assert "Établissement principal : Non" in han_page and "Gestionnaire" in han_page

    trail = staff_client.get("/admin/audit/?page_size=100").get_data(as_text=True)
    body = visible_text(trail[trail.index("<tbody>"):trail.index("</tbody>")])
    assert codes_in(body) == [], body
    assert "Motif : " in body and "Actif : Oui → Non" in body


def test_the_csv_export_keeps_the_recorded_json(app, staff_client, db):
    make_changes(app, db)
    token = csrf_token(staff_client, "/admin/audit/")
    export = staff_client.post("/admin/audit/action/?action=user.deactivate",
                               data={"csrf_token": token, "action": "export", "all_matching": "1", "url": "/"})
    lines = export.get_data(as_text=True).splitlines()
    assert lines[0].lstrip("\ufeff") == "Date;Par;Action;Type;Sur;Avant;Après;Adresse IP"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.deactivate"))
    assert json.dumps(event.before).replace('"', '""') in lines[1]


def test_values_and_grant_snapshots_read_as_french():
    assert audit_lines({"active": False}, {"active": True}) == ["Actif : Non → Oui"]
    assert audit_lines(None, {"job_title": None, "is_staff": False}) == ["Fonction : (vide)", "Compte du personnel : Non"]
    before = {"Temple JEDI – 111 385 407 00015 – 75001 Paris": {"principal": True, "habilitations": ["funding"]}}
    after = {"Temple JEDI – 111 385 407 00015 – 75001 Paris": {"principal": True, "habilitations": ["funding", "manager"]},
             "Garage – 1": {"principal": False, "habilitations": []}}
    assert audit_lines(before, after) == [
        "Temple JEDI – 111 385 407 00015 – 75001 Paris : Habilitations : Prise en charge → Prise en charge, Gestionnaire",
        "Rattaché(e) à Garage – 1 (Établissement principal : Non ; Habilitations : aucune)",
    ]
    assert audit_lines(after, {}) == ["Détaché(e) de Temple JEDI – 111 385 407 00015 – 75001 Paris", "Détaché(e) de Garage – 1"]


def test_thousands_use_a_narrow_no_break_space():
    assert thousands(100001) == "100\u202f001" and thousands(13555) == "13\u202f555" and thousands(7) == "7"


def test_bulk_messages_count_the_french_way():
    from views.messages import plural

    assert plural(13555, "utilisateur désactivé", "utilisateurs désactivés") == "13\u202f555 utilisateurs désactivés"
