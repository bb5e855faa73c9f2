"""Claims on existing accounts: a "Rattachement" is never filed on a stranger's word.

Anyone may type an existing account's email into the public request form. Such a request waits,
"unconfirmed" and seen by nobody, until the account holder confirms it from the link sent to that
address; a holder filing it logged in (from their profile) is confirmed at once. Only then may the
establishment's administrators decide it, and a staff account only by staff (the authority model).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admin_app.authority import OUT_OF_PERIMETER, perimeter_of
from models import AccountRequest, Establishment, RequestKind, RequestStatus, User
from models.rules import clean_email, clean_siret, clean_text

from . import audit, emails, notifications
from .common import Actor, ServiceError, checked, transaction

_SALT = "mes-utilisateurs/confirm-attachment"  # binds the token to this purpose only


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def confirmation_link(request: AccountRequest) -> str:
    token = _serializer().dumps([request.id, request.email])
    return f"{current_app.config['BASE_URL']}/account/confirm-attachment/{token}"


def request_of_token(session: Session, token: str, max_age: timedelta) -> AccountRequest | None:
    """The unconfirmed request a link confirms, or None (forged, expired, already confirmed, decided)."""
    try:
        request_id, email = _serializer().loads(token, max_age=int(max_age.total_seconds()))
    except (SignatureExpired, BadSignature, ValueError, TypeError):
        return None
    if not isinstance(request_id, int) or not 0 < request_id < 2**31:
        return None
    request = session.get(AccountRequest, request_id)
    if request is None or request.email != email or request.status != RequestStatus.UNCONFIRMED.value:
        return None
    return request


def enqueue_confirmation(session: Session, request: AccountRequest, asked_by: str | None = None) -> None:
    """Ask the account holder, at the account's own address, whether they filed (or, when an administrator
    `asked_by` it, accept) this request."""
    session.flush()
    emails.enqueue(session, request.email, "confirm_attachment", "Confirmez votre demande de rattachement",
                   request=request, link=confirmation_link(request), asked_by=asked_by,
                   expiry=f"{int(current_app.config['EMAIL_LINK_MAX_AGE'].total_seconds() // 3600)} heures")


def confirm(session: Session, request: AccountRequest) -> bool:
    """The holder confirmed from their mailbox: the request becomes pending; False if it no longer waits."""
    with transaction(session):
        holder = session.scalar(select(User).where(User.email == request.email))
        if holder is None or not holder.active:
            return False
        result = session.execute(
            update(AccountRequest)
            .where(AccountRequest.id == request.id, AccountRequest.status == RequestStatus.UNCONFIRMED.value)
            .values(status=RequestStatus.PENDING.value)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return False
        session.expire(request)
        audit.record(session, Actor(holder), "request.confirm", "request", request.id, _label(request))
        notifications.notify_new_request(session, request)
        return True


def file_for_oneself(session: Session, holder: User, company_name: str, siret: str, ip: str | None = None) -> AccountRequest:
    """A logged-in holder asks for one more establishment: a confirmed Rattachement from the start."""
    with transaction(session):
        company_name = checked("company_name", clean_text, company_name, "La raison sociale", 200)
        siret = checked("siret", clean_siret, siret or "")
        if any(g.establishment.siret == siret for g in holder.grants):
            raise ServiceError("Vous êtes déjà rattaché(e) à cet établissement.", field="siret")
        duplicate = session.scalar(select(AccountRequest.id).where(
            AccountRequest.email == holder.email, AccountRequest.siret == siret,
            AccountRequest.status.in_([RequestStatus.PENDING.value, RequestStatus.UNCONFIRMED.value]),
        ))
        if duplicate:
            raise ServiceError("Une demande pour cet établissement est déjà en cours de traitement.", field="siret")
        request = AccountRequest(
            civility=holder.civility, last_name=holder.last_name, first_name=holder.first_name, email=holder.email,
            phone=holder.phone, job_title=holder.job_title, company_name=company_name, siret=siret,
            kind=RequestKind.ATTACHMENT.value, status=RequestStatus.PENDING.value,
        )
        session.add(request)
        session.flush()
        audit.record(session, Actor(holder, ip), "request.create", "request", request.id, _label(request), None,
                     {"kind": RequestKind.ATTACHMENT.value, "siret": siret, "company_name": company_name, "confirmed": True})
        emails.enqueue(session, request.email, "request_received", "Demande reçue", request=request)
        notifications.notify_new_request(session, request)
        return request


def file_on_behalf(session: Session, actor: Actor, email: str, establishment_id: int) -> AccountRequest:
    """An administrator who met an existing account (creating a user whose email has one) asks its holder to
    be attached to one of their establishments: a claim like any other, waiting for the holder's
    confirmation from their mailbox; the holder's identity is the account's, the email says who asked."""
    with transaction(session):
        perimeter = perimeter_of(session, actor)
        establishment = session.get(Establishment, establishment_id)
        if establishment is None or not perimeter.contains(establishment.id) or not perimeter.administers_users:
            raise ServiceError(f"Cet établissement est {OUT_OF_PERIMETER}.")
        holder = session.scalar(select(User).where(User.email == checked("email", clean_email, email)))
        if holder is None:
            raise ServiceError("Aucun compte n'utilise cette adresse email : créez l'utilisateur.", field="email")
        decision = perimeter.may_claim(holder)
        if not decision:
            raise ServiceError(decision.reason)
        if any(g.establishment_id == establishment.id for g in holder.grants):
            raise ServiceError("Ce compte est déjà rattaché à cet établissement.")
        duplicate = session.scalar(select(AccountRequest.id).where(
            AccountRequest.email == holder.email, AccountRequest.siret == establishment.siret,
            AccountRequest.status.in_([RequestStatus.PENDING.value, RequestStatus.UNCONFIRMED.value]),
        ))
        if duplicate:
            raise ServiceError("Une demande de rattachement de ce compte à cet établissement est déjà en cours.")
        request = AccountRequest(
            civility=holder.civility, last_name=holder.last_name, first_name=holder.first_name, email=holder.email,
            phone=holder.phone, job_title=holder.job_title, company_name=establishment.company.name,
            siret=establishment.siret, kind=RequestKind.ATTACHMENT.value, status=RequestStatus.UNCONFIRMED.value,
        )
        session.add(request)
        session.flush()
        audit.record(session, actor, "request.create", "request", request.id, _label(request), None,
                     {"kind": RequestKind.ATTACHMENT.value, "siret": establishment.siret, "asked_by": actor.label})
        enqueue_confirmation(session, request, asked_by=actor.label)
        return request


def _label(request: AccountRequest) -> str:
    return f"{request.last_name} {request.first_name} <{request.email}> – {request.siret}"
