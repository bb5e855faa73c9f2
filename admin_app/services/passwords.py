"""Password hashing (argon2) and the password policy."""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_dummy_hash: str | None = None  # made with _hasher's cost: see verify_password
_COMMON_PASSWORDS = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"
MIN_LENGTH = 12


@cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of common passwords, lower-cased."""
    lines = _COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str, email: str | None = None) -> str | None:
    """Return the French reason a password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Le mot de passe doit comporter au moins {MIN_LENGTH} caractères."
    folded = password.casefold()
    if email and (folded == email.casefold() or folded == email.split("@")[0].casefold()):
        return "Le mot de passe ne doit pas être votre adresse email."
    if folded in common_passwords():
        return "Ce mot de passe est trop courant : choisissez-en un autre."
    return None


def configure_hasher(time_cost: int, memory_cost: int, parallelism: int) -> None:
    """Set argon2's cost (from the app config); hashes made with other costs are rehashed at login."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    # Made now, with the new cost: it must cost what a real hash costs, from the first failed login on.
    _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its hash; False for a user without password.

    Without a hash, the password is still checked against a dummy one made with the current cost:
    every call does one argon2 verification, so the answer's timing does not tell whether an
    account exists, is active or has a password.
    """
    try:
        return _hasher.verify(password_hash or _dummy(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
