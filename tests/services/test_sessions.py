"""The sessions service called directly: logging in, logging out, and which session ids still open a session."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.services import passwords, sessions
from models import AuditEvent, User

from . import factories

PASSWORD = "un long mot de passe sûr"


def member(session, **kwargs) -> User:
    user = factories.user(session, password_hash=passwords.hash_password(PASSWORD), **kwargs)
    session.commit()
    return user


def audit_rows(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def cost(password_hash: str) -> str:
    """The "$argon2id$v=19$m=...,t=...,p=..." part of a hash: its algorithm and cost."""
    return password_hash.rsplit("$", 2)[0]


# --- login_email ------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["lando@example.org", " Lando@Example.ORG ", "lando@ｅxample.org", "LANDO@ｅｘａｍｐｌｅ.org"])
def test_login_email_folds_every_spelling_of_an_address_into_one(typed):
    assert sessions.login_email(typed) == "lando@example.org"


@pytest.mark.parametrize("typed, expected", [(" Not An Email ", "not an email"), ("", ""), (None, "")])
def test_login_email_keeps_something_to_count_for_what_is_not_an_address(typed, expected):
    assert sessions.login_email(typed) == expected


# --- authenticate -----------------------------------------------------------------------------------

def test_authenticate_opens_a_session_records_it_and_does_not_count_as_an_edit(session):
    user = member(session)
    version, token = user.version, user.session_token
    assert sessions.authenticate(session, user.email.upper(), PASSWORD, "203.0.113.7") is user
    session.expire_all()
    assert user.last_login_at is not None
    assert (user.version, user.session_token) == (version, token)
    [row] = audit_rows(session, "login.success")
    assert (row.actor_id, row.target_id, row.ip) == (user.id, user.id, "203.0.113.7")


def test_authenticate_finds_the_account_under_a_fullwidth_spelling(session):
    user = member(session)
    local, domain = user.email.split("@")
    assert sessions.authenticate(session, f"{local}@ｅ{domain[1:]}", PASSWORD) is user


@pytest.mark.parametrize("case", ["wrong password", "inactive", "no password"])
def test_authenticate_refuses_a_known_account_and_records_the_failure_against_it(session, case):
    user = member(session, active=case != "inactive")
    if case == "no password":
        user.password_hash = None
        session.commit()
    password = "pas le bon mot de passe" if case == "wrong password" else PASSWORD
    assert sessions.authenticate(session, user.email, password, "203.0.113.7") is None
    session.expire_all()
    assert user.last_login_at is None
    [row] = audit_rows(session, "login.failure")
    assert (row.actor_id, row.target_id, row.ip) == (user.id, user.id, "203.0.113.7")


def test_authenticate_refuses_an_unknown_address_and_records_what_was_typed(session):
    assert sessions.authenticate(session, "Personne@Example.org", PASSWORD, "203.0.113.7") is None
    [row] = audit_rows(session, "login.failure")
    assert (row.actor_id, row.target_id, row.target_label, row.ip) == (None, None, "personne@example.org", "203.0.113.7")
    assert PASSWORD not in repr((row.before, row.after, row.target_label))


@pytest.mark.parametrize("case", ["unknown", "inactive", "no password", "wrong password", "right password"])
def test_authenticate_does_exactly_one_argon2_verification_whatever_the_account(session, argon2_checks, case):
    """The same work for every answer, so its timing does not tell an unknown or unusable account."""
    user = member(session, active=case != "inactive")
    if case == "no password":
        user.password_hash = None
        session.commit()
    email = "personne@example.org" if case == "unknown" else user.email
    password = "pas le bon mot de passe" if case == "wrong password" else PASSWORD
    argon2_checks.clear()
    result = sessions.authenticate(session, email, password)
    assert (result is user) == (case == "right password")
    assert len(argon2_checks) == 1
    # A stand-in hash costs what a real one costs: made with the current parameters.
    assert cost(argon2_checks[0]) == cost(passwords.hash_password("x"))


def test_authenticate_upgrades_the_hash_when_the_cost_changed(app, session):
    user = member(session)
    old = user.password_hash
    passwords.configure_hasher(2, 128, 1)
    try:
        assert sessions.authenticate(session, user.email, PASSWORD) is user
    finally:
        passwords.configure_hasher(*app.config["ARGON2_COST"])
    session.expire_all()
    assert user.password_hash != old and "m=128,t=2" in user.password_hash


# --- logout ---------------------------------------------------------------------------------------

def test_logout_renews_the_session_token_and_records_it(session):
    user = member(session)
    old_id, version = user.get_id(), user.version
    sessions.logout(session, user, "203.0.113.7")
    session.expire_all()
    assert user.get_id() != old_id and user.version == version  # not an edit: an open edit form stays valid
    assert sessions.load_session_user(session, old_id) is None
    assert sessions.load_session_user(session, user.get_id()) is user
    [row] = audit_rows(session, "logout")
    assert (row.actor_id, row.target_id, row.ip) == (user.id, user.id, "203.0.113.7")


# --- load_session_user ------------------------------------------------------------------------------

def test_load_session_user_opens_the_session_of_its_id(session):
    user = member(session)
    assert sessions.load_session_user(session, user.get_id()) is user


def test_load_session_user_refuses_a_deactivated_user_even_with_the_right_token(session):
    user = member(session)
    session_id = user.get_id()
    user.active = False  # the token left as it was: only `active` stands between this id and a session
    session.commit()
    assert user.get_id() == session_id
    assert sessions.load_session_user(session, session_id) is None


def test_load_session_user_refuses_an_older_token_of_an_active_user(session):
    user = member(session)
    old_id = user.get_id()
    user.session_token = "un-jeton-plus-recent"
    session.commit()
    assert user.active
    assert sessions.load_session_user(session, old_id) is None
    assert sessions.load_session_user(session, f"{user.id}:") is None


@pytest.mark.parametrize("session_id", ["", "abc", "abc:def", "1", ":token", "-1:token", "999999:token"])
def test_load_session_user_refuses_ids_that_name_no_session(session, session_id):
    member(session)
    assert sessions.load_session_user(session, session_id) is None
