"""Logging in and out: check credentials, record the attempt, keep the hash up to date."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models import InvalidValue, User, utcnow
from models.accounts import new_session_token
from models.rules import clean_email
from models.wording import user_label

from . import audit
from .common import Actor, transaction
from .passwords import hash_password, needs_rehash, verify_password


def login_email(email: str | None) -> str:
    """Return the email as authentication looks it up (the login limiter counts per this value too).

    One normalisation for both: a variant the lookup folds into an account (upper case, a fullwidth
    letter in the domain) must land on that account's failure counter, not on a fresh one.
    """
    try:
        return clean_email(email or "")
    except InvalidValue:
        return (email or "").strip().lower()


def _write_quietly(session: Session, user: User, **values: object) -> None:
    # Plain UPDATEs: logging in or out is not an edit, it must not bump (nor be refused by) the
    # optimistic-locking version; the same account logging in twice at once must not 500.
    session.execute(update(User).where(User.id == user.id).values(**values).execution_options(synchronize_session=False))
    for name, value in values.items():
        set_committed_value(user, name, value)


def authenticate(session: Session, email: str, password: str, ip: str | None = None) -> User | None:
    """Return the user if the credentials open a session, else None (the reason is not told)."""
    with transaction(session):
        email = login_email(email)
        user = session.scalar(select(User).where(User.email == email))
        # Only a proven address opens a session: one an account merely typed in proves nothing.
        usable = user is not None and user.active and user.password_hash is not None and user.email_verified_at is not None
        # Exactly one argon2 verification whatever the account's state (verify_password checks against a
        # dummy hash when given none): an unknown or inactive address must not answer faster.
        valid = verify_password(user.password_hash if usable else None, password)
        if not (usable and valid):
            if user is not None:
                audit.record(session, Actor(user, ip), "login.failure", "user", user.id, user_label(user))
            else:
                audit.record(session, Actor(None, ip), "login.failure", "user", None, email[:254])
            return None
        values: dict[str, object] = {"last_login_at": utcnow()}
        if needs_rehash(user.password_hash):
            values["password_hash"] = hash_password(password)  # the same password: whichever login writes last is fine
        _write_quietly(session, user, **values)
        audit.record(session, Actor(user, ip), "login.success", "user", user.id, user_label(user))
        return user


def logout(session: Session, user: User, ip: str | None = None) -> None:
    """End every login session of the user: a copy of the session cookie taken before no longer opens one.

    The cookie is signed, not stored: forgetting it in this browser leaves any copy valid, so the
    token it carries (the second half of the login id) is renewed instead.
    """
    with transaction(session):
        _write_quietly(session, user, session_token=new_session_token())
        audit.record(session, Actor(user, ip), "logout", "user", user.id, user_label(user))


def load_session_user(session: Session, session_id: str) -> User | None:
    """Return the user of a login session, or None if it was ended (logout, deactivation, new password)."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or user.session_token != token:
        return None
    return user
