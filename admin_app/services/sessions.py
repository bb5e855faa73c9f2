"""Logging in: check credentials, record the attempt, keep the hash up to date."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models import InvalidValue, User, utcnow
from models.rules import clean_email

from . import audit
from .common import Actor, transactional
from .passwords import hash_password, needs_rehash, verify_password
from .users import user_label


@transactional
def authenticate(session: Session, email: str, password: str, ip: str | None = None) -> User | None:
    """Return the user if the credentials open a session, else None (the reason is not told)."""
    try:
        email = clean_email(email)
    except InvalidValue:
        email = (email or "").strip().lower()
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        if user is not None:
            audit.record(session, Actor(user, ip), "login.failure", "user", user.id, user_label(user))
        else:
            audit.record(session, Actor(None, ip), "login.failure", "user", None, email[:254])
        return None
    # Plain UPDATEs: logging in is not an edit, it must not bump (nor be refused by) the optimistic-locking
    # version; the same account logging in twice at once (or just after the hash cost changed) must not 500.
    values: dict[str, object] = {"last_login_at": utcnow()}
    if needs_rehash(user.password_hash):
        values["password_hash"] = hash_password(password)  # the same password: whichever login writes last is fine
    session.execute(update(User).where(User.id == user.id).values(**values).execution_options(synchronize_session=False))
    for name, value in values.items():
        set_committed_value(user, name, value)
    audit.record(session, Actor(user, ip), "login.success", "user", user.id, user_label(user))
    return user


def load_session_user(session: Session, session_id: str) -> User | None:
    """Return the user of a login session, or None if it was ended (deactivation, new password)."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or user.session_token != token:
        return None
    return user
