"""The identity takeover chains of the hostile review, replayed through HTTP: an address squatted from the profile,
a copied session cookie turned into a permanent takeover. Both must stay closed."""

from __future__ import annotations

import re

from sqlalchemy import select

from models import AccountRequest, AuditEvent, OutboundEmail, RequestKind, RequestStatus, User

from .demo import LANDO
from .http import csrf_token, login

COLLEAGUE = "rey.palpatine@example.org"
LINK = re.compile(r"https?://[^/\s]+(/account/(?:confirm-new-email|cancel-email-change)/[A-Za-z0-9._-]+)")


def change_email(client, new_email: str, password: str | None):
    data = {"form": "profile", "profile-email": new_email, "profile-phone": "06 44 33 22 11",
            "csrf_token": csrf_token(client, "/account/profile")}
    if password is not None:
        data["profile-current_password"] = password
    return client.post("/account/profile", data=data, follow_redirects=True)


def emailed_link(db, kind: str) -> str:
    db.session.expire_all()
    body = db.session.scalars(select(OutboundEmail.body_text).where(OutboundEmail.kind == kind)
                              .order_by(OutboundEmail.id.desc())).first()
    return LINK.search(body).group(1)


def follow(client, path: str):
    """Open an emailed link, then press its button (the change is a POST, never the opening of the link)."""
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token})


def lando(db) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.last_name == "CALRISSIAN"))


def test_a_squatted_address_never_becomes_the_account_and_the_colleague_s_request_stays_hers(client, app, demo, db):
    assert login(client, *LANDO).status_code == 302
    answer = change_email(client, COLLEAGUE, LANDO[1]).get_data(as_text=True)
    assert "un lien de validation lui a été envoyé" in answer
    assert (lando(db).email, lando(db).pending_email) == (LANDO[0], COLLEAGUE)

    # The squatted address opens no session.
    stranger = app.test_client()
    assert login(stranger, COLLEAGUE, LANDO[1]).status_code == 200
    # The colleague's own public request is an « Ouverture » for her, not a claim on Lando's account.
    form = {"civility": "Mme", "last_name": "Palpatine", "first_name": "Rey", "email": COLLEAGUE, "phone": "0611223344",
            "company_name": "OPCA DEFI", "siret": "40282065800217"}
    visitor = app.test_client()
    assert visitor.post("/account/request", data={**form, "csrf_token": csrf_token(visitor, "/account/request")}).status_code == 200
    db.session.expire_all()
    request = db.session.scalar(select(AccountRequest).where(AccountRequest.email == COLLEAGUE))
    assert (request.kind, request.status) == (RequestKind.OPENING.value, RequestStatus.PENDING.value)


def test_a_copied_session_cannot_change_the_address_without_the_password(client, app, demo, db):
    assert login(client, *LANDO).status_code == 302
    copied = app.test_client()
    copied.set_cookie("session", client.get_cookie("session").value)
    answer = change_email(copied, "pirate@example.org", None).get_data(as_text=True)
    assert "saisissez votre mot de passe actuel" in answer
    assert lando(db).pending_email is None
    assert db.session.scalar(select(OutboundEmail.id)) is None


def test_ce_n_etait_pas_moi_ends_the_intruder_s_sessions_and_voids_his_links(client, app, demo, db):
    # An intruder who knows the password and holds a session asks for his own address...
    intruder = app.test_client()
    assert login(intruder, *LANDO).status_code == 302
    change_email(intruder, "pirate@example.org", LANDO[1])
    confirm, cancel = emailed_link(db, "confirm_email_change"), emailed_link(db, "email_change_notice")
    notice = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "email_change_notice"))
    assert notice.recipient == LANDO[0] and "pirate@example.org" in notice.body_text

    # ... Lando, told at his own address, says it was not him.
    victim = app.test_client()
    assert "Ce n'était pas moi" in victim.get(cancel).get_data(as_text=True)
    assert "toutes les sessions ouvertes sur votre compte sont fermées" in follow(victim, cancel).get_data(as_text=True)
    assert intruder.get("/account/profile").status_code == 302  # the intruder's session ended
    assert login(app.test_client(), *LANDO).status_code == 200  # the password he knew is gone
    assert (lando(db).email, lando(db).pending_email) == (LANDO[0], None)
    # The intruder's confirmation link now finds nothing to confirm.
    assert follow(app.test_client(), confirm).status_code == 400
    assert lando(db).email == LANDO[0]
    # Lando chooses a new password from the link sent to his own address.
    set_password = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "set_password"))
    assert set_password.recipient == LANDO[0]
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == lando(db).id)).all()
    assert "user.email_change" in actions and "user.email_change_cancelled" in actions


def test_the_new_mailbox_confirms_and_the_new_address_is_the_login(client, app, demo, db):
    assert login(client, *LANDO).status_code == 302
    change_email(client, "lando@cloud-city.example.org", LANDO[1])
    confirm = emailed_link(db, "confirm_email_change")
    assert client.get(confirm).status_code == 200 and lando(db).email == LANDO[0]  # opening the link changes nothing
    assert "lando@cloud-city.example.org est désormais" in follow(app.test_client(), confirm).get_data(as_text=True)
    assert (lando(db).email, lando(db).pending_email) == ("lando@cloud-city.example.org", None)
    assert login(app.test_client(), "lando@cloud-city.example.org", LANDO[1]).status_code == 302
    assert login(app.test_client(), *LANDO).status_code == 200
