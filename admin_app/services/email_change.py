"""An account's address changes only once the new mailbox proved it.

A new address (asked from the profile, by an administrator's edit, by an approval) is *pending*: the old one
stays the login and the contact until the link sent to the new one is used. The old address is told, with a
« ce n'était pas moi » link that cancels the change, ends every session and asks for a new password. A copied
session or a squatted colleague's address therefore never becomes the account's identity.

An account whose address was never proven (created by an administrator, not yet verified) has no identity to
protect: its address is replaced at once and the verification link goes to the new one.
"""

from __future__ import annotations

import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import User, utcnow
from models.accounts import new_session_token
from models.wording import user_label

from . import audit, emails
from .common import EMAIL_TAKEN, Actor, ServiceError, transaction

# What anyone but staff is told, whether the address is free, belongs to an account, to staff, or waits
# somewhere else: the answer must not tell which addresses have an account.
PENDING_NOTICE = (
    "Si cette adresse est libre, un lien de validation lui a été envoyé : l'adresse actuelle reste celle du "
    "compte jusqu'à ce que ce lien soit utilisé."
)
CHANGE_GONE = "Ce changement d'adresse n'est plus en attente : il a déjà été confirmé, annulé ou remplacé par un autre."
ADDRESS_TAKEN_SINCE = "Cette adresse est désormais utilisée par un autre compte : le changement ne peut pas aboutir."


class EmailChange(enum.StrEnum):
    """What asking for an address did."""

    UNCHANGED = "unchanged"
    REPLACED = "replaced"  # an address never proven: replaced, and the new one asked to verify
    PENDING = "pending"  # the new address waits for its link; the old one is told


def _taken(session: Session, email: str, user_id: int) -> bool:
    return session.scalar(select(User.id).where(User.email == email, User.id != user_id)) is not None


def ask(session: Session, actor: Actor, user: User, new_email: str, *, precise: bool) -> EmailChange:
    """Ask for `new_email` as the address of `user`, inside the caller's transaction (the caller decided the
    actor may). `precise`: the actor may be told that an address is taken (staff); anyone else gets the same
    answer and the same work whether it is or not."""
    if new_email == user.email:
        return EmailChange.UNCHANGED
    taken = _taken(session, new_email, user.id)
    if taken and precise:
        raise ServiceError(EMAIL_TAKEN, field="email")
    if user.email_verified_at is None and not taken:
        before = user.email
        user.email = new_email
        session.flush()
        audit.record(session, actor, "user.update", "user", user.id, user_label(user), {"email": before}, {"email": new_email})
        emails.enqueue_verify_email(session, user, emails.VerifyReason.ADDRESS_CHANGED)
        return EmailChange.REPLACED
    if user.pending_email == new_email:
        return EmailChange.PENDING  # asked already: the link sent then still works
    user.pending_email, user.pending_email_at = new_email, utcnow()
    session.flush()
    audit.record(session, actor, "user.email_change", "user", user.id, user_label(user), None, {"pending_email": new_email})
    emails.enqueue_email_change(session, user, new_email, by_administrator=actor.id != user.id)
    if taken:
        # The same two emails were written; the one to an address that has an account is never sent.
        for email in [e for e in session.new if getattr(e, "recipient", None) == new_email]:
            session.expunge(email)
    return EmailChange.PENDING


def _locked(session: Session, user: User) -> User:
    # Read the account as it is now, under its row lock: two clicks, or a confirmation racing a
    # cancellation, are decided one after the other on the state each one changes.
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    session.refresh(user)
    return user


def confirm(session: Session, user: User, old_email: str, new_email: str) -> None:
    """The new mailbox proved it: the pending address becomes the account's."""
    with transaction(session):
        user = _locked(session, user)
        if user.email != old_email or user.pending_email != new_email:
            raise ServiceError(CHANGE_GONE)
        if _taken(session, new_email, user.id):
            raise ServiceError(ADDRESS_TAKEN_SINCE)
        user.email, user.email_verified_at = new_email, utcnow()
        user.pending_email = user.pending_email_at = None
        user.link_nonce = new_session_token()  # links sent to the old address no longer work
        session.flush()
        audit.record(session, Actor(user), "user.email_changed", "user", user.id, user_label(user),
                     {"email": old_email}, {"email": new_email})


def cancel(session: Session, user: User, old_email: str, new_email: str, ip: str | None = None) -> None:
    """« Ce n'était pas moi », from the old mailbox: the change is undone (even if already confirmed, while the
    old address is free), every session ends and the password must be chosen again from a link sent there."""
    with transaction(session):
        user = _locked(session, user)
        waiting = user.email == old_email and user.pending_email == new_email
        confirmed = user.email == new_email and not _taken(session, old_email, user.id)
        if not (waiting or confirmed):
            raise ServiceError(CHANGE_GONE)
        before = {"email": user.email, "pending_email": user.pending_email}
        user.email, user.email_verified_at = old_email, utcnow()
        user.pending_email = user.pending_email_at = None
        user.session_token = new_session_token()
        user.password_hash = None
        session.flush()
        audit.record(session, Actor(user, ip), "user.email_change_cancelled", "user", user.id, user_label(user),
                     before, {"email": old_email, "pending_email": None})
        emails.enqueue_set_password(session, user)
