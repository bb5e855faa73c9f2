"""Through HTTP: a password link sent before a deactivation stays refused once the account is active again (by hand
or by undoing the deactivation); a login session ends SESSION_LIFETIME_HOURS after the login whatever its activity;
a shared user's history names another company's administrator to nobody of this company."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from admin_app import security
from admin_app.authority import UNNAMED_ACTOR
from admin_app.extensions import db as _db
from admin_app.services import Actor, emails
from admin_app.services import bulk as bulk_service
from admin_app.services.users import GrantInput, save_grants
from models import Habilitation, Operation, User

from ..demo import CANTINA, CHEWIE, LUKE, STAFF, TEMPLE, eid, uid
from ..http import csrf_token, login

USED_LINK = "Ce lien a déjà été utilisé, ou un lien plus récent vous a été envoyé."
LINK = re.compile(r"(/account/set-password/[A-Za-z0-9._-]+)")


# --- links sent before a deactivation ----------------------------------------------------------------------

def send_password_link(app, user_id: int) -> str:
    """Arrange: a password link sent to the user (as « Renvoyer l'invitation » would); its path."""
    with app.app_context():
        email = emails.enqueue_set_password(_db.session, _db.session.get(User, user_id))
        _db.session.commit()
        path = LINK.search(email.body_text).group(1)
        _db.session.remove()
    return path


def row_action(client, action: str, user_id: int):
    token = csrf_token(client, "/admin/users/")
    return client.post("/admin/users/row-action/", data={"csrf_token": token, "row_action": f"{action}:{user_id}",
                                                        "url": "/admin/users/"})


def test_a_link_sent_before_a_deactivation_is_refused_after_the_reactivation(app, staff_client, db):
    han = uid(db, "han.solo@example.org")
    link = send_password_link(app, han)
    assert app.test_client().get(link).status_code == 200
    password_hash = db.session.get(User, han).password_hash

    assert row_action(staff_client, "deactivate", han).status_code == 302
    assert row_action(staff_client, "activate", han).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, han).active is True

    refused = app.test_client().get(link)
    assert refused.status_code == 400 and USED_LINK in refused.get_data(as_text=True)
    stranger = app.test_client()
    token = csrf_token(stranger)
    posted = stranger.post(link, data={"csrf_token": token, "password": "un mot de passe tout neuf",
                                       "confirmation": "un mot de passe tout neuf"})
    assert posted.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, han).password_hash == password_hash


def test_undoing_the_deactivation_does_not_revive_the_link(app, staff_client, db):
    han = uid(db, "han.solo@example.org")
    link = send_password_link(app, han)
    row_action(staff_client, "deactivate", han)
    operation = db.session.scalar(select(Operation.id).where(Operation.kind == "deactivate"))
    token = csrf_token(staff_client, "/admin/users/")
    staff_client.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": operation})
    db.session.expire_all()
    assert db.session.get(User, han).active is True  # the undo re-activated him
    refused = app.test_client().get(link)
    assert refused.status_code == 400 and USED_LINK in refused.get_data(as_text=True)


# --- the session's absolute lifetime -----------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    """The sessions' clock, moved by the test (seconds)."""
    moment = SimpleNamespace(now=1_800_000_000)
    monkeypatch.setattr(security, "now", lambda: moment.now)
    return moment


HOUR = 3600


def test_a_session_used_every_hour_ends_twelve_hours_after_the_login(app, client, demo, clock):
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 12 * HOUR
    logged_in_at = clock.now
    assert login(client, *STAFF).location == "/admin/"
    for hour in range(1, 13):
        clock.now = logged_in_at + hour * HOUR
        assert client.get("/admin/users/").status_code == 200, hour  # each request within the idle timeout

    clock.now = logged_in_at + 12 * HOUR + 60
    expired = client.get("/admin/users/")
    assert expired.status_code == 302 and expired.location.startswith("/login")
    assert "Votre session a expiré, reconnectez-vous." in client.get(expired.location).get_data(as_text=True)
    assert client.get("/admin/users/").status_code == 302  # logged out, not only sent away once

    # Logging in again opens a new session, with a lifetime of its own.
    assert login(client, *STAFF).location == "/admin/"
    clock.now += HOUR
    assert client.get("/admin/users/").status_code == 200


def test_a_copy_of_the_cookie_taken_early_ends_at_the_same_time(app, client, demo, clock):
    """The cookie is re-signed at each request (the idle clock): an old copy carries the same login time."""
    logged_in_at = clock.now
    login(client, *STAFF)
    client.get("/admin/")
    early = client.get_cookie("session").value
    clock.now = logged_in_at + 12 * HOUR + 60
    other = app.test_client()
    other.set_cookie("session", early)
    assert other.get("/admin/").location.startswith("/login")


def test_a_session_without_its_login_time_is_refused(app, client, demo, clock):
    login(client, *STAFF)
    with client.session_transaction() as session:
        del session[security.LOGIN_KEY]  # a session opened before the lifetime existed
    response = client.get("/admin/users/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_the_login_form_of_an_expired_session_still_logs_in(app, client, demo, clock):
    login(client, *STAFF)
    clock.now += 13 * HOUR
    page = client.get("/login")
    assert page.status_code == 200 and "Votre session a expiré, reconnectez-vous." in page.get_data(as_text=True)
    assert login(client, *STAFF).location == "/admin/"


# --- a shared user's history --------------------------------------------------------------------------------

@pytest.fixture
def ahsoka_history(app, db, demo):
    """Ahsoka, first on the Cantina only: Chewbacca (the Cantina's Gestionnaire) deactivates her and gives her the
    payments habilitation; then staff attaches her to Temple JEDI too, where Luke is Gestionnaire."""
    user = User(civility="Mme", last_name="Tano", first_name="Ahsoka", email="ahsoka@example.org", phone="0611223344")
    db.session.add(user)
    db.session.commit()
    with app.app_context():
        session = _db.session
        ahsoka = session.get(User, user.id)
        chewie, staff = (session.scalar(select(User).where(User.email == email)) for email in (CHEWIE[0], STAFF[0]))
        cantina, temple = eid(db, CANTINA), eid(db, TEMPLE)
        save_grants(session, Actor(staff), ahsoka, [GrantInput(cantina, True, set())])
        bulk_service.set_active(session, Actor(chewie), [ahsoka.id], False)
        save_grants(session, Actor(chewie), session.get(User, ahsoka.id), [GrantInput(cantina, True, {Habilitation.PAYMENTS})])
        save_grants(session, Actor(staff), session.get(User, ahsoka.id),
                    [GrantInput(cantina, True, {Habilitation.PAYMENTS}), GrantInput(temple, False, set())])
        names = SimpleNamespace(chewie=Actor(chewie).label, staff=Actor(staff).label, id=ahsoka.id)
        _db.session.remove()
    return names


def history_of(client, user_id: int) -> str:
    page = client.get(f"/admin/users/details/?id={user_id}")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    return text[text.index("Historique"):]


def test_the_other_companys_manager_is_not_named_in_a_shared_users_history(as_user, ahsoka_history):
    history = history_of(as_user(LUKE), ahsoka_history.id)
    assert UNNAMED_ACTOR in history  # the grant change and the deactivation (an operation) alike
    assert history.count(UNNAMED_ACTOR) == 2
    assert "CHEWBACCA" not in history and CHEWIE[0] not in history
    assert ahsoka_history.staff in history  # staff, named as before


def test_staff_and_the_author_read_the_name(as_user, ahsoka_history):
    for credentials in (STAFF, CHEWIE):
        history = history_of(as_user(credentials), ahsoka_history.id)
        assert ahsoka_history.chewie in history and UNNAMED_ACTOR not in history
