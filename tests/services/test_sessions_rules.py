"""Logging in and out, and the password policy, as the history and the person see them: each attempt
written against the account (or the typed address), the policy's French messages, and one argon2
verification per failed login whatever the account's state."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.services import passwords, sessions
from models import AuditEvent, User
from models.wording import user_label

from . import factories

PASSWORD = "un long mot de passe sûr"


@pytest.fixture
def member(session) -> User:
    user = factories.user(session, password_hash=passwords.hash_password(PASSWORD))
    session.commit()
    return user


def the_row(session) -> AuditEvent:
    session.expire_all()
    (row,) = session.scalars(select(AuditEvent)).all()
    return row


@pytest.mark.parametrize("action, password", [("login.success", PASSWORD), ("login.failure", "pas le bon mot de passe")])
def test_each_login_attempt_on_an_account_is_written_against_it(session, member, action, password):
    sessions.authenticate(session, member.email, password, ip="203.0.113.9")
    row = the_row(session)
    assert (row.action, row.actor_id, row.target_type, row.target_id, row.target_label, row.ip) == (
        action, member.id, "user", member.id, user_label(member), "203.0.113.9")


def test_a_failed_login_without_an_account_is_written_against_the_typed_address(session):
    sessions.authenticate(session, "Personne@Example.org", "x", ip="203.0.113.9")
    row = the_row(session)
    assert (row.action, row.actor_id, row.target_type, row.target_id, row.target_label) == (
        "login.failure", None, "user", None, "personne@example.org")


def test_a_very_long_typed_login_is_kept_to_254_characters(session):
    typed = "x" * 300
    sessions.authenticate(session, typed, "x")
    assert the_row(session).target_label == "x" * 254


def test_a_successful_login_is_seen_at_once_on_the_account(session, member):
    user = sessions.authenticate(session, member.email, PASSWORD)
    assert user is not None and user.last_login_at is not None
    session.expire_all()
    assert user.last_login_at is not None


def test_logging_out_is_written_and_ends_the_session_held_in_memory_too(session, member):
    old = f"{member.id}:{member.session_token}"
    sessions.logout(session, member, ip="203.0.113.9")
    assert sessions.load_session_user(session, old) is None
    assert sessions.load_session_user(session, f"{member.id}:{member.session_token}") is not None  # the object knows its new token
    row = the_row(session)
    assert (row.action, row.actor_id, row.target_type, row.target_id, row.target_label, row.ip) == (
        "logout", member.id, "user", member.id, user_label(member), "203.0.113.9")


# --- the password policy ----------------------------------------------------------------------------

def test_the_policy_says_in_french_what_is_wrong():
    assert passwords.password_problem("court") == "Le mot de passe doit comporter au moins 12 caractères."
    assert passwords.password_problem("Jeanne.Durand@Example.org", "jeanne.durand@example.org") == (
        "Le mot de passe ne doit pas être votre adresse email.")
    assert passwords.password_problem("azertyuiop123") == "Ce mot de passe est trop courant : choisissez-en un autre."
    assert passwords.password_problem("un long mot de passe sûr", "jeanne@example.org") is None


class Counting:
    """The argon2 hasher, counting what it is asked to do (each call costs the same time)."""

    def __init__(self, hasher):
        self.hasher, self.hashed, self.verified = hasher, 0, 0

    def hash(self, password):
        self.hashed += 1
        return self.hasher.hash(password)

    def verify(self, password_hash, password):
        self.verified += 1
        return self.hasher.verify(password_hash, password)


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setattr(passwords, "_dummy_hash", passwords._dummy_hash)
    monkeypatch.setattr(passwords, "_hasher", passwords._hasher)
    passwords.configure_hasher(time_cost=1, memory_cost=8, parallelism=1)
    counter = Counting(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counter)
    return counter


def test_a_failed_login_costs_one_verification_and_no_hashing_from_the_first_one_on(counting):
    for _ in range(2):
        assert passwords.verify_password(None, "n'importe quoi") is False
    assert (counting.verified, counting.hashed) == (2, 0)


def test_without_a_dummy_hash_yet_one_is_made_once_then_reused(counting, monkeypatch):
    monkeypatch.setattr(passwords, "_dummy_hash", None)
    for _ in range(3):
        assert passwords.verify_password(None, "n'importe quoi") is False
    assert (counting.verified, counting.hashed) == (3, 1)
