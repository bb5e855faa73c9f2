"""Signed, purpose-bound, expiring links sent by email."""

from __future__ import annotations

import enum
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from models import User


class Purpose(enum.StrEnum):
    VERIFY_EMAIL = "verify-email"
    # Not a secret (B105): a link purpose, not a password.
    SET_PASSWORD = "set-password"  # nosec B105
    CONFIRM_EMAIL_CHANGE = "confirm-email-change"  # sent to the new address
    CANCEL_EMAIL_CHANGE = "cancel-email-change"  # « ce n'était pas moi », sent to the old address


class TokenProblem(enum.StrEnum):
    EXPIRED = "expired"
    INVALID = "invalid"  # tampered, wrong purpose, or for a user that no longer exists
    USED = "used"  # superseded by a newer link, or already used
    INACTIVE = "inactive"  # the account was deactivated: its links do nothing


def _serializer(secret_key: str, purpose: Purpose) -> URLSafeTimedSerializer:
    # The salt binds a token to its purpose: a verify link cannot set a password.
    return URLSafeTimedSerializer(secret_key, salt=f"mes-utilisateurs/{purpose.value}")


def make_token(secret_key: str, purpose: Purpose, user: User) -> str:
    """Sign (user id, link nonce): renewing the user's nonce voids every older link."""
    return _serializer(secret_key, purpose).dumps([user.id, user.link_nonce])


def read_token(
    session: Session, secret_key: str, purpose: Purpose, token: str, max_age: timedelta
) -> tuple[User | None, TokenProblem | None]:
    """Return the token's user and None, or the reason the link cannot be used.

    For a used (superseded) link the user is returned too, so a page can tell a
    harmless second click from a stale link. A deactivated account's links are refused
    first: whoever holds one must not verify an address or set a password on it.
    """
    try:
        user_id, nonce = _serializer(secret_key, purpose).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        return None, TokenProblem.EXPIRED
    except (BadSignature, ValueError, TypeError):
        return None, TokenProblem.INVALID
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        return None, TokenProblem.INVALID
    if not user.active:
        return user, TokenProblem.INACTIVE
    if nonce != user.link_nonce:
        return user, TokenProblem.USED
    return user, None


def make_email_change_token(secret_key: str, purpose: Purpose, user: User, old_email: str, new_email: str) -> str:
    """Sign (user id, old address, new address): such a link is about that one change and dies with it."""
    return _serializer(secret_key, purpose).dumps([user.id, old_email, new_email])


def read_email_change_token(
    session: Session, secret_key: str, purpose: Purpose, token: str, max_age: timedelta
) -> tuple[User | None, str, str, TokenProblem | None]:
    """Return the token's user, old and new addresses, and None; or the reason the link cannot be used.

    Whether the change it names is still the account's is for the service to say (it reads the row locked).
    """
    try:
        user_id, old_email, new_email = _serializer(secret_key, purpose).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        return None, "", "", TokenProblem.EXPIRED
    except (BadSignature, ValueError, TypeError):
        return None, "", "", TokenProblem.INVALID
    if not (isinstance(user_id, int) and isinstance(old_email, str) and isinstance(new_email, str)):
        return None, "", "", TokenProblem.INVALID
    user = session.get(User, user_id)
    if user is None:
        return None, "", "", TokenProblem.INVALID
    if not user.active:
        return user, old_email, new_email, TokenProblem.INACTIVE
    return user, old_email, new_email, None
