"""The accounts service called directly: a user's own email, password and profile."""

from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy import func, select

from admin_app.services import ServiceError, accounts, emails, passwords
from admin_app.services.tokens import Purpose, TokenProblem, make_token, read_token
from models import AuditEvent, OutboundEmail, User

from . import factories

PASSWORD = "un long mot de passe sûr"
NEW = "un tout nouveau mot de passe"


def member(session, *, verified: bool = True, password: bool = True, active: bool = True) -> User:
    user = factories.user(session, active=active, password_hash=passwords.hash_password(PASSWORD) if password else None)
    if not verified:
        user.email_verified_at = None
    session.commit()
    return user


def actions(session) -> list[tuple[str, int | None]]:
    return [tuple(row) for row in session.execute(select(AuditEvent.action, AuditEvent.target_id).order_by(AuditEvent.id))]


def outbox(session) -> list[tuple[str, str]]:
    return [tuple(row) for row in session.execute(select(OutboundEmail.recipient, OutboundEmail.kind).order_by(OutboundEmail.id))]


def snapshot(session, user: User) -> dict:
    session.expire_all()
    return {c.key: getattr(user, c.key) for c in User.__table__.columns}


def link_state(session, user: User, purpose: Purpose = Purpose.SET_PASSWORD):
    """What a link made now for the user says after the change under test."""
    token = make_token(current_app.config["SECRET_KEY"], purpose, user)
    return lambda: read_token(session, current_app.config["SECRET_KEY"], purpose, token, current_app.config["EMAIL_LINK_MAX_AGE"])[1]


# --- confirm_email ----------------------------------------------------------------------------------

def test_confirm_email_marks_the_address_verified_and_sends_the_password_link(session):
    user = member(session, verified=False, password=False)
    assert accounts.confirm_email(session, user) is True
    session.expire_all()
    assert user.email_verified_at is not None
    assert actions(session) == [("user.verify_email", user.id)]
    assert outbox(session) == [(user.email, "set_password")]


def test_confirm_email_sends_nothing_to_a_user_who_has_a_password(session):
    user = member(session, verified=False)
    assert accounts.confirm_email(session, user) is True
    assert outbox(session) == []


def test_confirm_email_twice_changes_nothing(session):
    user = member(session)
    before = snapshot(session, user)
    assert accounts.confirm_email(session, user) is False
    assert snapshot(session, user) == before and actions(session) == [] and outbox(session) == []


def test_confirm_email_does_nothing_for_a_deactivated_account(session):
    user = member(session, verified=False, password=False, active=False)
    before = snapshot(session, user)
    with pytest.raises(ServiceError, match="Ce compte est désactivé"):
        accounts.confirm_email(session, user)
    assert snapshot(session, user) == before and actions(session) == [] and outbox(session) == []


# --- set_password -----------------------------------------------------------------------------------

def test_set_password_creates_it_and_ends_the_link_and_every_session(session):
    user = member(session, verified=False, password=False)
    before = snapshot(session, user)
    link = link_state(session, user)
    accounts.set_password(session, user, PASSWORD, PASSWORD)
    after = snapshot(session, user)
    assert passwords.verify_password(after["password_hash"], PASSWORD)
    assert after["session_token"] != before["session_token"] and after["link_nonce"] != before["link_nonce"]
    assert after["email_verified_at"] is not None  # the link reached the mailbox
    assert link() is TokenProblem.USED
    assert actions(session) == [("user.set_password", user.id)]


def test_set_password_over_an_existing_one_is_a_reset(session):
    user = member(session)
    accounts.set_password(session, user, NEW, NEW)
    assert passwords.verify_password(snapshot(session, user)["password_hash"], NEW)
    assert actions(session) == [("user.reset_password", user.id)]


@pytest.mark.parametrize("password, confirmation, field, message", [
    (PASSWORD, NEW, "confirmation", "ne sont pas identiques"),
    ("court", "court", "password", "au moins 12 caractères"),
    ("azertyuiop123", "azertyuiop123", "password", "trop courant"),
])
def test_set_password_refuses_in_french_and_changes_nothing(session, password, confirmation, field, message):
    user = member(session, password=False)
    before = snapshot(session, user)
    with pytest.raises(ServiceError, match=message) as refused:
        accounts.set_password(session, user, password, confirmation)
    assert refused.value.field == field
    assert snapshot(session, user) == before and actions(session) == []


def test_set_password_does_nothing_for_a_deactivated_account(session):
    user = member(session, password=False, active=False)
    before = snapshot(session, user)
    with pytest.raises(ServiceError, match="Ce compte est désactivé"):
        accounts.set_password(session, user, PASSWORD, PASSWORD)
    assert snapshot(session, user) == before and actions(session) == []


# --- request_password_link --------------------------------------------------------------------------

def test_request_password_link_sends_a_password_link_to_a_verified_active_account(session):
    user = member(session)
    link = link_state(session, user)
    assert accounts.request_password_link(session, user.email.upper(), "203.0.113.7") is True
    assert outbox(session) == [(user.email, "set_password")]
    assert link() is TokenProblem.USED  # the new link voids the older ones
    row = session.scalars(select(AuditEvent)).one()
    assert (row.action, row.actor_id, row.target_id, row.ip) == ("user.password_link", None, user.id, "203.0.113.7")


def test_request_password_link_asks_an_unverified_account_to_verify_first(session):
    user = member(session, verified=False, password=False)
    assert accounts.request_password_link(session, user.email) is True
    assert outbox(session) == [(user.email, "verify_email")]


@pytest.mark.parametrize("case", ["unknown", "inactive"])
def test_request_password_link_sends_nothing_without_an_active_account(session, case):
    user = member(session, active=False)
    before = snapshot(session, user)
    address = "personne@example.org" if case == "unknown" else user.email
    assert accounts.request_password_link(session, address, "203.0.113.7") is False
    assert outbox(session) == []
    assert snapshot(session, user) == before  # the inactive account's links are not renewed either
    row = session.scalars(select(AuditEvent)).one()
    assert (row.action, row.target_id, row.target_label, row.ip) == ("user.password_link", None, address, "203.0.113.7")


def test_request_password_link_ignores_what_is_not_an_address(session):
    assert accounts.request_password_link(session, "pas une adresse") is False
    assert outbox(session) == [] and actions(session) == []


def test_request_password_link_does_the_same_work_with_or_without_an_account(session, monkeypatch):
    """The expensive part (the email written, its link signed, an audit row) runs in both branches:
    the answer's timing does not tell whether the address has an account."""
    work = []
    render, sign = emails.render_template, emails.make_token
    monkeypatch.setattr(emails, "render_template", lambda name, **context: work.append(name) or render(name, **context))
    monkeypatch.setattr(emails, "make_token", lambda *args: work.append("token") or sign(*args))
    user = member(session)
    costs = {}
    for case, address in (("known", user.email), ("unknown", "personne@example.org"), ("inactive", member(session, active=False).email)):
        work.clear()
        audit_rows = session.scalar(select(func.count()).select_from(AuditEvent))
        accounts.request_password_link(session, address)
        costs[case] = (list(work), session.scalar(select(func.count()).select_from(AuditEvent)) - audit_rows)
    assert costs["known"] == (["token", "email/set_password.txt", "email/set_password.html"], 1)
    assert costs["unknown"] == costs["inactive"] == costs["known"]
    assert outbox(session) == [(user.email, "set_password")]  # only the real account's email is kept


# --- update_profile ---------------------------------------------------------------------------------

def test_update_profile_saves_phone_and_job_with_their_history(session):
    user = member(session)
    assert accounts.update_profile(session, user, {"email": user.email, "phone": "07 81 22 33 44", "job_title": "Paie"}) is True
    session.expire_all()
    assert (user.phone, user.job_title, user.email_verified_at is not None) == ("+33781223344", "Paie", True)
    row = session.scalars(select(AuditEvent)).one()
    assert (row.action, row.actor_id, row.before, row.after) == (
        "user.update", user.id, {"phone": "+33612345678", "job_title": None}, {"phone": "+33781223344", "job_title": "Paie"})
    assert outbox(session) == []


def test_update_profile_without_a_change_writes_nothing(session):
    user = member(session)
    assert accounts.update_profile(session, user, {"email": user.email.upper(), "phone": "06 12 34 56 78"}) is False
    assert actions(session) == []


def test_a_new_email_waits_for_its_mailbox_and_the_old_one_is_told(session):
    user = member(session)
    old_email = user.email
    data = {"email": "Nouvelle@Example.org", "phone": user.phone, "current_password": PASSWORD}
    assert accounts.update_profile(session, user, data) is True
    session.expire_all()
    assert (user.email, user.pending_email) == (old_email, "nouvelle@example.org")
    assert user.email_verified_at is not None  # the proven address stays the login
    assert outbox(session) == [("nouvelle@example.org", "confirm_email_change"), (old_email, "email_change_notice")]


@pytest.mark.parametrize("field, data, message", [
    ("current_password", {"email": "nouvelle@example.org", "phone": "0612345678"}, "mot de passe actuel"),
    ("current_password", {"email": "nouvelle@example.org", "phone": "0612345678", "current_password": "faux"},
     "mot de passe actuel"),
    ("email", {"email": "pas une adresse", "phone": "0612345678"}, "pas valide"),
    ("phone", {"email": "SAME", "phone": "12"}, "numéro de téléphone n'est pas valide"),
])
def test_update_profile_refuses_on_the_field_and_changes_nothing(session, field, data, message):
    user = member(session)
    data = {**data, "email": {"SAME": user.email}.get(data["email"], data["email"])}
    before = snapshot(session, user)
    with pytest.raises(ServiceError, match=message) as refused:
        accounts.update_profile(session, user, data)
    assert refused.value.field == field
    assert snapshot(session, user) == before and actions(session) == [] and outbox(session) == []


# --- change_password --------------------------------------------------------------------------------

def test_change_password_ends_other_sessions_and_voids_earlier_links(session):
    user = member(session)
    before = snapshot(session, user)
    password_link, verify_link = link_state(session, user), link_state(session, user, Purpose.VERIFY_EMAIL)
    accounts.change_password(session, user, PASSWORD, NEW, NEW)
    after = snapshot(session, user)
    assert passwords.verify_password(after["password_hash"], NEW)
    assert after["session_token"] != before["session_token"]
    assert after["link_nonce"] != before["link_nonce"]
    assert password_link() is TokenProblem.USED and verify_link() is TokenProblem.USED
    assert actions(session) == [("user.change_password", user.id)]


@pytest.mark.parametrize("current, new, confirmation, field, message", [
    ("pas le bon mot de passe", NEW, NEW, "current", "actuel est incorrect"),
    (PASSWORD, NEW, PASSWORD, "confirmation", "ne sont pas identiques"),
    (PASSWORD, "court", "court", "new", "au moins 12 caractères"),
])
def test_change_password_refuses_in_french_and_changes_nothing(session, current, new, confirmation, field, message):
    user = member(session)
    before = snapshot(session, user)
    with pytest.raises(ServiceError, match=message) as refused:
        accounts.change_password(session, user, current, new, confirmation)
    assert refused.value.field == field
    assert snapshot(session, user) == before and actions(session) == []
