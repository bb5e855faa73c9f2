"""The account-takeover chains found by a hostile insider, replayed through HTTP on the demo data.

1. A stranger files a "Rattachement" of the staff account to Luke's establishment; Luke approves it
   and rewrites the staff account's email, then receives its password link.
2. Obi-Wan (Gestion des utilisateurs on one establishment) rewrites the email of Luke (Gestionnaire on
   two), then receives his password link.
Both must fail at every step, and leave the accounts as they were.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from models import AccountRequest, AuditEvent, OutboundEmail, RequestStatus, User

from .databases import snapshot
from .demo import LUKE, OBIWAN, TEMPLE
from .http import csrf_token, file_public_request, login

STAFF_EMAIL = "staff@example.org"


def edit_post(client, db, user_id: int, **changes):
    user = db.session.get(User, user_id)
    db.session.refresh(user)
    url = f"/admin/users/edit/?id={user_id}"
    data = {"civility": user.civility, "last_name": user.last_name, "first_name": user.first_name, "email": user.email,
            "phone": user.phone, "job_title": user.job_title or "", "version": str(user.version),
            "csrf_token": csrf_token(client, url) if client.get(url).status_code == 200 else csrf_token(client, "/admin/users/")}
    data.update(changes)
    return client.post(url, data=data)


def test_a_stranger_cannot_hand_the_staff_account_to_a_client_manager(app, demo, db):
    stranger = app.test_client()
    answer = file_public_request(stranger, STAFF_EMAIL, TEMPLE)
    assert "Votre demande a bien été envoyée" in answer.get_data(as_text=True)  # the same answer as for anyone
    claim = db.session.scalar(select(AccountRequest).where(AccountRequest.email == STAFF_EMAIL))
    assert claim.status == RequestStatus.UNCONFIRMED.value
    # The holder is asked, at the account's own address; nobody else is told anything.
    asked = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "confirm_attachment")).all()
    assert [e.recipient for e in asked] == [STAFF_EMAIL]

    luke = app.test_client()
    assert login(luke, *LUKE).status_code == 302
    assert "Nombre de demande(s) : 0" in luke.get("/admin/account-requests/").get_data(as_text=True)
    before = snapshot(db)
    assert luke.get(f"/admin/account-requests/approve/{claim.id}").status_code == 404
    token = csrf_token(luke, "/admin/account-requests/")
    assert luke.post(f"/admin/account-requests/approve/{claim.id}/attach", data={"csrf_token": token}).status_code == 404
    luke.post("/admin/account-requests/action/", data={"action": "approve", "rowid": [str(claim.id)], "csrf_token": token})
    assert snapshot(db) == before

    # Even once the staff member confirms it (by mistake), Luke cannot attach a staff account.
    confirm_path = re.search(r"(/account/confirm-attachment/[A-Za-z0-9._-]+)", asked[0].body_text).group(1)
    assert stranger.get(confirm_path).status_code == 200  # a GET only shows the question
    db.session.expire_all()
    assert db.session.get(AccountRequest, claim.id).status == RequestStatus.UNCONFIRMED.value
    page = app.test_client()
    page.post(confirm_path, data={"csrf_token": csrf_token(page, confirm_path)})
    db.session.expire_all()
    assert db.session.get(AccountRequest, claim.id).status == RequestStatus.PENDING.value

    html = luke.get(f"/admin/account-requests/approve/{claim.id}").get_data(as_text=True)
    assert "seul le back-office peut le modifier" in html
    token = csrf_token(luke, "/admin/account-requests/")
    refused = luke.post(f"/admin/account-requests/approve/{claim.id}/attach", data={"csrf_token": token}, follow_redirects=True)
    assert "seul le back-office" in refused.get_data(as_text=True)
    staff_id = db.session.scalar(select(User.id).where(User.email == STAFF_EMAIL))
    assert luke.get(f"/admin/users/edit/?id={staff_id}").status_code == 404
    assert edit_post(luke, db, staff_id, email="luke.owns.it@example.org").status_code == 404
    db.session.expire_all()
    staff = db.session.get(User, staff_id)
    assert staff.email == STAFF_EMAIL and staff.grants == []
    assert db.session.get(AccountRequest, claim.id).status == RequestStatus.PENDING.value


def test_a_user_administrator_cannot_take_over_a_gestionnaire(app, demo, db):
    obiwan = app.test_client()
    assert login(obiwan, *OBIWAN).status_code == 302
    luke_id = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    page = obiwan.get(f"/admin/users/edit/?id={luke_id}").get_data(as_text=True)
    assert 'id="identity-read-only"' in page and "readonly" in page  # shown, not editable, with the reason
    audit_before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    response = edit_post(obiwan, db, luke_id, email="obiwan.owns.luke@example.org", last_name="VOLÉ")
    assert response.status_code in (200, 302)
    db.session.expire_all()
    luke = db.session.get(User, luke_id)
    assert luke.email == LUKE[0] and luke.last_name == "SKYWALKER"
    assert db.session.scalar(select(OutboundEmail.id).where(OutboundEmail.recipient == "obiwan.owns.luke@example.org")) is None
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.id > (audit_before or 0), AuditEvent.action == "user.update")) is None
    # Nor by the bulk and row actions: deactivating, deleting or re-inviting Luke is refused as a whole.
    token = csrf_token(obiwan, "/admin/users/")
    for name in ("deactivate", "delete", "invite"):
        obiwan.post("/admin/users/action/", data={"action": name, "rowid": [str(luke_id)], "csrf_token": token})
    db.session.expire_all()
    luke = db.session.get(User, luke_id)
    assert luke is not None and luke.active
