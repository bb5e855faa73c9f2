"""An account's address changes only once the new mailbox proved it.

A new address (asked from the profile, by an administrator's edit, by an approval) is *pending*: the old one
stays the login and the contact until the link sent to the new one is used. The old address is told, with a
« ce n'était pas moi » link that cancels the change, ends every session and asks for a new password. A copied
session or a squatted colleague's address therefore never becomes the account's identity.

Once a change is confirmed, the address it replaced stays the account's (`previous_email`, nobody else may take
it) for as long as the « ce n'était pas moi » link lives, and later changes within that time keep the earliest:
an intruder who chains changes, or takes the old address for another account, cannot void the way back.

Staff may replace the address of an account that never proved one (created, not yet verified) at once; anyone
else goes through the same pending change, so that the answer never tells whether the address has an account.
"""

from __future__ import annotations

import enum

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models import User, utcnow
from models.accounts import new_session_token
from models.wording import user_label

from . import audit, email_limits, emails
from .common import EMAIL_TAKEN, Actor, ServiceError, transaction

# What anyone but staff is told, whether the address is free, belongs to an account, to staff, or waits
# somewhere else: the answer must not tell which addresses have an account.
PENDING_NOTICE = (
    "Si cette adresse est libre, un lien de validation lui a été envoyé : l'adresse actuelle reste celle du "
    "compte jusqu'à ce que ce lien soit utilisé."
)
CHANGE_GONE = "Ce changement d'adresse n'est plus en attente : il a déjà été confirmé, annulé ou remplacé par un autre."
ADDRESS_TAKEN_SINCE = "Cette adresse est désormais utilisée par un autre compte : le changement ne peut pas aboutir."


CONFIRM_KIND = "confirm_email_change"


class EmailChange(enum.StrEnum):
    """What asking for an address did."""

    UNCHANGED = "unchanged"
    REPLACED = "replaced"  # an address never proven, by staff: replaced, and the new one asked to verify
    PENDING = "pending"  # the new address waits for its link; the old one is told


def address_in_use(session: Session, email: str, except_user_id: int | None = None) -> bool:
    """Whether `email` is an account's address, or kept for one while its change can be taken back."""
    holders = select(User.id).where(or_(
        User.email == email, and_(User.previous_email == email, User.previous_email_until > utcnow())))
    if except_user_id is not None:
        holders = holders.where(User.id != except_user_id)
    return session.scalar(holders.limit(1)) is not None


def _keeps_previous(user: User) -> bool:
    return user.previous_email is not None and user.previous_email_until is not None and \
        user.previous_email_until > utcnow()


def ask(session: Session, actor: Actor, user: User, new_email: str, *, precise: bool) -> EmailChange:
    """Ask for `new_email` as the address of `user`, inside the caller's transaction (the caller decided the
    actor may). `precise`: the actor may be told that an address is taken (staff); anyone else gets the same
    answer and the same work whether it is or not."""
    if new_email == user.email:
        return EmailChange.UNCHANGED
    taken = address_in_use(session, new_email, user.id)
    if taken and precise:
        raise ServiceError(EMAIL_TAKEN, field="email")
    if precise and user.email_verified_at is None:
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
    # Never to an address that has an account; and bounded per recipient, as third parties can type any address.
    send = not taken and email_limits.recipient_allows(session, new_email, CONFIRM_KIND, kinds=(CONFIRM_KIND,))
    emails.enqueue_new_address_link(session, user, new_email, send=send)
    told = [user.email] + ([user.previous_email] if _keeps_previous(user) else [])  # a recent change's too
    for address in told:
        emails.enqueue_change_notice(session, user, address, new_email, by_administrator=actor.id != user.id)
    return EmailChange.PENDING


def _locked(session: Session, user: User) -> User:
    # Read the account as it is now, under its row lock: two clicks, or a confirmation racing a
    # cancellation, are decided one after the other on the state each one changes.
    if session.scalar(select(User.id).where(User.id == user.id).with_for_update()) is None:
        raise ServiceError(CHANGE_GONE)  # the account was deleted since the link was opened
    session.refresh(user)
    return user


def confirm(session: Session, user: User, old_email: str, new_email: str) -> None:
    """The new mailbox proved it: the pending address becomes the account's, the one it replaces is kept for it."""
    with transaction(session):
        user = _locked(session, user)
        if user.email != old_email or user.pending_email != new_email:
            raise ServiceError(CHANGE_GONE)
        if address_in_use(session, new_email, user.id):
            raise ServiceError(ADDRESS_TAKEN_SINCE)
        if not _keeps_previous(user):
            user.previous_email = old_email
            user.previous_email_until = utcnow() + current_app.config["EMAIL_LINK_MAX_AGE"]
        user.email, user.email_verified_at = new_email, utcnow()
        user.pending_email = user.pending_email_at = None
        user.link_nonce = new_session_token()  # links sent to the old address no longer work
        session.flush()
        audit.record(session, Actor(user), "user.email_changed", "user", user.id, user_label(user),
                     {"email": old_email}, {"email": new_email})
        if user.password_hash is None:  # an account that never had one: its first proven address asks for it
            emails.enqueue_set_password(session, user)


def cancel(session: Session, user: User, old_email: str, new_email: str, ip: str | None = None) -> None:
    """« Ce n'était pas moi », from the old mailbox: the pending change is dropped, or the account gets its kept
    address back (however many changes were made since), every session ends and the password must be chosen
    again from a link sent there."""
    with transaction(session):
        user = _locked(session, user)
        waiting = user.email == old_email and user.pending_email == new_email
        # (Kept for it, the old address is nobody else's: unless written behind the services' back.)
        kept = _keeps_previous(user) and user.previous_email == old_email and not address_in_use(session, old_email, user.id)
        if not (waiting or kept):
            raise ServiceError(CHANGE_GONE)
        before = {"email": user.email, "pending_email": user.pending_email}
        user.email, user.email_verified_at = old_email, utcnow()
        user.pending_email = user.pending_email_at = None
        user.previous_email = user.previous_email_until = None
        user.session_token = new_session_token()
        user.password_hash = None
        session.flush()
        audit.record(session, Actor(user, ip), "user.email_change_cancelled", "user", user.id, user_label(user),
                     before, {"email": old_email, "pending_email": None})
        emails.enqueue_set_password(session, user)
