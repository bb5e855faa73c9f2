"""Password hashing and policy called directly."""

from __future__ import annotations

import pytest

from admin_app.services import passwords

PASSWORD = "un long mot de passe sûr"


@pytest.fixture
def other_cost(app):
    """Argon2 with another cost for the test; the app's cost afterwards."""
    passwords.configure_hasher(2, 128, 1)
    yield
    passwords.configure_hasher(*app.config["ARGON2_COST"])


def cost(password_hash: str) -> str:
    return password_hash.rsplit("$", 2)[0]


# --- the policy -------------------------------------------------------------------------------------

def test_common_passwords_are_loaded_folded_and_without_comments():
    common = passwords.common_passwords()
    assert len(common) > 100 and "azertyuiop123" in common
    assert all(p == p.casefold() and p.strip() == p and not p.startswith("#") for p in common)


@pytest.mark.parametrize("password, email, message", [
    ("x" * (passwords.MIN_LENGTH - 1), None, f"au moins {passwords.MIN_LENGTH} caractères"),
    ("Lando.Calrissian@example.org", "lando.calrissian@example.org", "ne doit pas être votre adresse email"),
    ("LANDO.CALRISSIAN", "lando.calrissian@example.org", "ne doit pas être votre adresse email"),
    ("AZERTYUIOP123", None, "trop courant"),
])
def test_password_problem_says_in_french_what_is_wrong(password, email, message):
    assert message in passwords.password_problem(password, email)


@pytest.mark.parametrize("password", ["x" * passwords.MIN_LENGTH, PASSWORD, "lando.calrissian et autre chose"])
def test_password_problem_accepts_a_long_uncommon_password(password):
    assert passwords.password_problem(password, "lando.calrissian@example.org") is None


# --- hashing --------------------------------------------------------------------------------------

def test_hash_password_salts_and_verify_password_checks(app):
    first, second = passwords.hash_password(PASSWORD), passwords.hash_password(PASSWORD)
    assert first != second and first.startswith("$argon2id$") and PASSWORD not in first
    assert passwords.verify_password(first, PASSWORD) and passwords.verify_password(second, PASSWORD)
    assert not passwords.verify_password(first, PASSWORD + " ")


@pytest.mark.parametrize("stored", [None, "", "pas un hash"])
def test_verify_password_says_no_without_a_usable_hash(app, stored):
    assert passwords.verify_password(stored, PASSWORD) is False


@pytest.mark.parametrize("stored", ["real", None, ""])
def test_verify_password_does_one_argon2_verification_with_or_without_a_hash(app, argon2_checks, stored):
    """A missing hash costs what a real one costs: the answer's timing does not tell a password is missing."""
    real = passwords.hash_password(PASSWORD)
    passwords.verify_password(real if stored == "real" else stored, "un autre mot de passe")
    assert len(argon2_checks) == 1 and cost(argon2_checks[0]) == cost(real)


def test_configure_hasher_sets_the_cost_of_new_hashes_and_of_the_stand_in(app, argon2_checks, other_cost):
    made = passwords.hash_password(PASSWORD)
    assert "m=128,t=2,p=1" in made
    passwords.verify_password(None, PASSWORD)
    assert cost(argon2_checks[-1]) == cost(made)


def test_needs_rehash_when_the_cost_changed(app):
    old = passwords.hash_password(PASSWORD)
    assert passwords.needs_rehash(old) is False
    passwords.configure_hasher(2, 128, 1)
    try:
        assert passwords.needs_rehash(old) is True
        assert passwords.needs_rehash(passwords.hash_password(PASSWORD)) is False
        assert passwords.verify_password(old, PASSWORD)  # old hashes still open a session (then get rehashed)
    finally:
        passwords.configure_hasher(*app.config["ARGON2_COST"])
