"""Password hashing (argon2) and the password policy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
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
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its hash; False for a user without password."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
