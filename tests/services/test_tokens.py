"""Email links called directly: signed, bound to a purpose and an account, expiring, single use."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from admin_app.services import passwords
from admin_app.services.tokens import Purpose, TokenProblem, make_token, read_token
from models import User
from models.accounts import new_session_token

from . import factories

SECRET = "une clé de test"
DAY = timedelta(days=1)


@pytest.fixture
def user(session) -> User:
    made = factories.user(session, password_hash=passwords.hash_password("un long mot de passe sûr"))
    session.commit()
    return made


def read(session, token: str, purpose: Purpose = Purpose.SET_PASSWORD, max_age: timedelta = DAY, secret: str = SECRET):
    return read_token(session, secret, purpose, token, max_age)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_fresh_link_names_its_user(session, user, purpose):
    token = make_token(SECRET, purpose, user)
    assert read(session, token, purpose) == (user, None)


def test_a_link_reads_the_same_many_times_until_its_nonce_is_renewed(session, user):
    token = make_token(SECRET, Purpose.SET_PASSWORD, user)
    assert read(session, token) == read(session, token) == (user, None)  # reading changes nothing
    user.link_nonce = new_session_token()  # a newer link was sent, or this one was used
    session.commit()
    assert read(session, token) == (user, TokenProblem.USED)  # the user comes back: a page can tell why


def test_a_link_is_bound_to_its_purpose(session, user):
    token = make_token(SECRET, Purpose.VERIFY_EMAIL, user)
    assert read(session, token, Purpose.SET_PASSWORD) == (None, TokenProblem.INVALID)


def test_a_link_expires(session, user):
    token = make_token(SECRET, Purpose.SET_PASSWORD, user)
    assert read(session, token, max_age=timedelta(seconds=-1)) == (None, TokenProblem.EXPIRED)


@pytest.mark.parametrize("mangle", [
    lambda token: token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"),
    lambda token: token.split(".")[0],
    lambda token: "",
    lambda token: "pas-un-lien",
])
def test_a_tampered_or_truncated_link_is_invalid(session, user, mangle):
    token = mangle(make_token(SECRET, Purpose.SET_PASSWORD, user))
    assert read(session, token) == (None, TokenProblem.INVALID)


def test_a_link_signed_with_another_key_is_invalid(session, user):
    token = make_token("une autre clé", Purpose.SET_PASSWORD, user)
    assert read(session, token) == (None, TokenProblem.INVALID)


@pytest.mark.parametrize("payload", [["1", "x"], [None, "x"], "pas une liste", [1]])
def test_a_well_signed_link_with_an_odd_payload_is_invalid(session, user, payload):
    token = URLSafeTimedSerializer(SECRET, salt=f"mes-utilisateurs/{Purpose.SET_PASSWORD.value}").dumps(payload)
    assert read(session, token) == (None, TokenProblem.INVALID)


def test_the_link_of_a_deleted_user_is_invalid(session, user):
    token = make_token(SECRET, Purpose.SET_PASSWORD, user)
    session.delete(user)
    session.commit()
    assert read(session, token) == (None, TokenProblem.INVALID)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_the_links_of_a_deactivated_account_do_nothing(session, user, purpose):
    token = make_token(SECRET, purpose, user)
    user.active = False
    session.commit()
    assert read(session, token, purpose) == (user, TokenProblem.INACTIVE)
