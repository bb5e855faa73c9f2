"""Tell the people who decide account requests that one has arrived (the guide: "Vous avez reçu une
demande de création de compte ? Rendez-vous dans « Mes utilisateurs »")."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_app.authority import administrators_of
from models import AccountRequest, Establishment, RequestKind, User

from . import audit, emails
from .common import SYSTEM


def recipients(session: Session, request: AccountRequest) -> list[User]:
    """Who is told: the establishment's administrators (the same people its requests tab shows them to)
    who have not turned these emails off; the staff when nobody administers that establishment."""
    establishment_id = session.scalar(select(Establishment.id).where(Establishment.siret == request.siret))
    if establishment_id is not None:
        administrators = list(session.scalars(select(User).where(administrators_of(establishment_id)).order_by(User.id)))
        if administrators:
            return [u for u in administrators if u.notify_requests]
    return list(session.scalars(
        select(User).where(User.is_staff.is_(True), User.active.is_(True), User.notify_requests.is_(True)).order_by(User.id)
    ))


def notify_new_request(session: Session, request: AccountRequest) -> int:
    """Queue one email per recipient, in the caller's transaction, and audit it; return how many."""
    told = recipients(session, request)
    link = f"{current_app.config['BASE_URL']}/admin/account-requests/"
    for user in told:
        emails.enqueue(session, user.email, "request_notification", "Nouvelle demande de création de compte",
                       user=user, request=request, request_kind=RequestKind(request.kind).label, link=link)
    if told:
        audit.record(session, SYSTEM, "request.notify", "request", request.id,
                     f"{request.last_name} {request.first_name} <{request.email}> – {request.siret}", None,
                     {"destinataires": [u.email for u in told]})
    return len(told)
