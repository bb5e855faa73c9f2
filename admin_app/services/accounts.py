"""A user's own account: verify the email, create or change the password, edit the profile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import InvalidValue, User, utcnow
from models.accounts import new_session_token
from models.rules import clean_email, clean_phone, clean_text
from models.wording import user_label

from . import audit, email_change, email_limits, emails
from .common import Actor, ServiceError, checked, transaction
from .passwords import hash_password, password_problem, verify_password

INACTIVE = "Ce compte est désactivé : ce lien ne peut plus être utilisé. Contactez la personne qui gère les utilisateurs de votre entreprise."


def _refuse_inactive(user: User) -> None:
    # A link reaching a deactivated account (sent before, or forwarded) must change nothing on it.
    if not user.active:
        raise ServiceError(INACTIVE)


def confirm_email(session: Session, user: User) -> bool:
    """Mark the email verified and queue the password email; False if it already was verified."""
    with transaction(session):
        _refuse_inactive(user)
        if user.email_verified_at is not None:
            return False
        user.email_verified_at = utcnow()
        audit.record(session, Actor(user), "user.verify_email", "user", user.id, user_label(user), None, {"email": user.email})
        if user.password_hash is None:
            emails.enqueue_set_password(session, user)
        return True


def set_password(session: Session, user: User, password: str, confirmation: str) -> User:
    """Set the password from an email link; the link and every open session stop working."""
    with transaction(session):
        _refuse_inactive(user)
        if password != confirmation:
            raise ServiceError("Les deux mots de passe ne sont pas identiques.", field="confirmation")
        problem = password_problem(password, user.email)
        if problem:
            raise ServiceError(problem, field="password")
        created = user.password_hash is None
        user.password_hash = hash_password(password)
        user.link_nonce = new_session_token()  # single use: this link, and any older one, is now void
        user.session_token = new_session_token()
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()  # the link reached the mailbox: the address is proven
        action = "user.set_password" if created else "user.reset_password"
        audit.record(session, Actor(user), action, "user", user.id, user_label(user))
        return user


def _stand_in(email: str) -> User:
    # Never added to the session: only what its email would say is computed, then dropped.
    return User(civility="M.", last_name="", first_name="", email=email, email_verified_at=utcnow())


def request_password_link(session: Session, email: str, ip: str | None = None) -> bool:
    """Send a new link to an active account (password link, or verification first if needed).

    Returns whether an email was queued; the caller must not tell the visitor. Without an active
    account the same work is done (one audit entry, an email written for a stand-in, then
    dropped), so that the answer's timing does not tell either. Nor when the address already had
    its share of links (email_limits): anyone may type it here, as often as they like; the
    account's nonce is then left alone, so that the links it already has keep working.
    """
    with transaction(session):
        try:
            email = clean_email(email)
        except InvalidValue:
            return False
        user = session.scalar(select(User).where(User.email == email))
        known = user is not None and user.active
        if known:
            audit.record(session, Actor(None, ip), "user.password_link", "user", user.id, user_label(user))
        else:
            audit.record(session, Actor(None, ip), "user.password_link", "user", None, email)
        # Counted for unknown addresses too: the same queries whether or not the account exists.
        sent = email_limits.recipient_allows(session, email, "set_password", email_limits.LINK_KINDS) and known
        outbound = emails.enqueue_invitation(session, user if sent else _stand_in(email))
        if not sent:
            session.expunge(outbound)
        return sent


def update_profile(session: Session, user: User, data: dict[str, Any]) -> bool:
    """Save what a user may change on their profile: phone, job title, and, for those who decide account
    requests, whether they are emailed when one arrives. A new email is only asked for (services.email_change),
    and only with the current password: a copied session must not be enough to hand the account over."""
    with transaction(session):
        phone = checked("phone", clean_phone, data.get("phone") or "")
        email = checked("email", clean_email, data.get("email") or "")
        job_title = checked("job_title", clean_text, data.get("job_title"), "La fonction", 200, required=False) or None
        if email != user.email and not verify_password(user.password_hash, data.get("current_password") or ""):
            raise ServiceError("Pour changer d'adresse email, saisissez votre mot de passe actuel.", field="current_password")
        before = {"phone": user.phone, "job_title": user.job_title}
        after = {"phone": phone, "job_title": job_title}
        if "notify_requests" in data:  # only offered to those who decide requests
            before["notify_requests"], after["notify_requests"] = user.notify_requests, bool(data["notify_requests"])
        old, new = audit.changes(before, after)
        if new:
            user.phone, user.job_title = phone, job_title
            user.notify_requests = after.get("notify_requests", user.notify_requests)
            audit.record(session, Actor(user), "user.update", "user", user.id, user_label(user), old, new)
        asked = email_change.ask(session, Actor(user), user, email, precise=False)
        return bool(new) or asked is not email_change.EmailChange.UNCHANGED


def change_password(session: Session, user: User, current: str, new: str, confirmation: str) -> User:
    """Change one's password, knowing the current one; other sessions end."""
    with transaction(session):
        if not verify_password(user.password_hash, current):
            raise ServiceError("Le mot de passe actuel est incorrect.", field="current")
        if new != confirmation:
            raise ServiceError("Les deux mots de passe ne sont pas identiques.", field="confirmation")
        problem = password_problem(new, user.email)
        if problem:
            raise ServiceError(problem, field="new")
        user.password_hash = hash_password(new)
        user.session_token = new_session_token()
        # A password link sent earlier (a forgotten-password request in a mailbox that may not be only
        # theirs) would otherwise still replace the password just chosen.
        user.link_nonce = new_session_token()
        audit.record(session, Actor(user), "user.change_password", "user", user.id, user_label(user))
        return user
