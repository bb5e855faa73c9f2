"""Tell the people who decide account requests that one has arrived (the guide: "Vous avez reçu une
demande de création de compte ? Rendez-vous dans « Mes utilisateurs »").

Requests arriving within minutes of each other reach a person as one email listing them all; what the
requester typed is shown as such, quoted, never as the product's own words (templates/email/
request_notification.*); and the bounds of services.email_limits apply, since anyone can file a request.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admin_app.authority import administrators_of
from models import (
    AccountRequest,
    EmailStatus,
    Establishment,
    OutboundEmail,
    OutboundEmailRequest,
    User,
    utcnow,
)
from models.wording import request_label

from . import audit, email_limits, emails
from .common import SYSTEM

KIND = "request_notification"
LISTED = 20  # requests an email lists one by one; it counts the others and sends to the requests tab


def recipients(session: Session, request: AccountRequest) -> list[User]:
    """Who is told: the establishment's administrators (the same people its requests tab shows them to)
    who have not turned these emails off; the staff when none is left to tell (nobody administers that
    establishment, or every administrator turned these emails off): a request is never announced to nobody."""
    establishment_id = session.scalar(select(Establishment.id).where(Establishment.siret == request.siret))
    if establishment_id is not None:
        administrators = session.scalars(select(User).where(administrators_of(establishment_id)).order_by(User.id))
        listening = [u for u in administrators if u.notify_requests]
        if listening:
            return listening
    return list(session.scalars(
        select(User).where(User.is_staff.is_(True), User.active.is_(True), User.notify_requests.is_(True)).order_by(User.id)
    ))


def subject_for(count: int) -> str:
    """The product's own words only: nothing the requester typed ever reaches a subject line."""
    if count == 1:
        return "Nouvelle demande de création de compte"
    return f"{count} nouvelles demandes de création de compte"


def _context(session: Session, user: User, requests: list[AccountRequest]) -> dict:
    shown = requests[:LISTED]
    return {
        "user": user,
        "requests": shown,
        "more": len(requests) - len(shown),
        "establishments": {r.siret: emails.establishment_label(session, r.siret) for r in shown},
        "link": f"{current_app.config['BASE_URL']}/admin/account-requests/",
    }


def _queued_for(session: Session, user: User) -> OutboundEmail | None:
    """The notification still waiting, unclaimed, for this person, if recent enough to join."""
    since = utcnow() - timedelta(minutes=current_app.config["NOTIFICATION_GROUP_MINUTES"])
    return session.scalar(
        select(OutboundEmail)
        .where(OutboundEmail.recipient == user.email, OutboundEmail.kind == KIND,
               OutboundEmail.status == EmailStatus.PENDING.value, OutboundEmail.claimed_by.is_(None),
               OutboundEmail.attempts == 0, OutboundEmail.created_at >= since)
        .order_by(OutboundEmail.id.desc())
        .limit(1)
    )


def _join(session: Session, user: User, request: AccountRequest) -> bool:
    """Add the request to the notification waiting for this person; False when there is none to join."""
    queued = _queued_for(session, user)
    if queued is None:
        return False
    listed = list(session.scalars(
        select(AccountRequest).join(OutboundEmailRequest, OutboundEmailRequest.request_id == AccountRequest.id)
        .where(OutboundEmailRequest.email_id == queued.id).order_by(AccountRequest.id)
    ))
    if not listed:
        return False  # not one of ours to re-render (written before emails listed their requests)
    requests = [*listed, request]
    subject = subject_for(len(requests))
    body_text, body_html = emails.render(KIND, subject, **_context(session, user, requests))
    # Only while no worker holds it: an email being sent is never rewritten under the worker's feet.
    done = session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == queued.id, OutboundEmail.status == EmailStatus.PENDING.value,
               OutboundEmail.claimed_by.is_(None))
        .values(subject=subject, body_text=body_text, body_html=body_html)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        return False
    session.expire(queued)
    session.add(OutboundEmailRequest(email_id=queued.id, request_id=request.id))
    return True


def _queue(session: Session, user: User, request: AccountRequest) -> bool:
    """A new notification for this person, within the bounds; False when it was left out."""
    email = emails.enqueue(session, user.email, KIND, subject_for(1), request=request,
                           **_context(session, user, [request]))
    if email is None:
        return False
    session.flush()
    session.add(OutboundEmailRequest(email_id=email.id, request_id=request.id))
    return True


def notify_new_request(session: Session, request: AccountRequest) -> int:
    """Tell each recipient, in the caller's transaction, by a new email or by joining the one still waiting
    for them, and audit it; return how many were told."""
    told = recipients(session, request)
    # Checked first (and it waits for concurrent checks): joining a waiting email is bounded too.
    if not told or not email_limits.establishment_allows(session, request, KIND):
        return 0
    told = [user for user in told if _join(session, user, request) or _queue(session, user, request)]
    if told:
        audit.record(session, SYSTEM, "request.notify", "request", request.id,
                     request_label(request), None,
                     {"destinataires": [u.email for u in told]})
    return len(told)
