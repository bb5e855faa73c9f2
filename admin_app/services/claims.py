"""Claims on existing accounts: a "Rattachement" is never filed on a stranger's word.

Anyone may type an existing account's email into the public request form. Such a request waits,
"unconfirmed" and seen by nobody, until the account holder confirms it from the link sent to that
address; a holder filing it logged in (from their profile) is confirmed at once. Only then may the
establishment's administrators decide it, and a staff account only by staff (the authority model).

Only proven addresses count (an account whose address is unverified is never claimable), and a claim names
the account fixed when it was filed and confirmed: if that account's address changes, the claim dies. Each
account has at most one claim waiting for its confirmation, so its mailbox is not flooded with them.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from admin_app.authority import OUT_OF_PERIMETER
from models import AccountRequest, Establishment, RequestKind, RequestStatus, User, utcnow
from models.rules import clean_email, clean_siret, clean_text
from models.wording import request_label

from . import audit, emails, notifications
from .common import Actor, ServiceError, checked, transaction
from .locks import decide_on

_SALT = "mes-utilisateurs/confirm-attachment"  # binds the token to this purpose only


# What a delegated administrator is told whether or not anyone was asked: the answer must not tell which
# addresses have an account, a staff one, an unproven one, or one already attached or already asked.
MAYBE_ASKED = ("Si cette adresse correspond à un compte qui peut rejoindre cet établissement, son titulaire a reçu "
               "un email pour le confirmer.")
ACCOUNT_GONE = ("Le compte visé par cette demande n'existe plus, a changé d'adresse email ou n'a pas validé celle-ci : "
                "elle ne peut pas être validée. Refusez-la ; son titulaire pourra en faire une nouvelle.")


def verified_account(session: Session, email: str, *, lock: bool = False) -> User | None:
    """The account whose proven address is `email` (already cleaned); `lock` holds its row to the end of the
    transaction, so that claims on one account are decided one at a time."""
    query = select(User).where(User.email == email, User.email_verified_at.is_not(None))
    return session.scalar(query.with_for_update() if lock else query)


def bound_account(session: Session, request: AccountRequest, *, lock: bool = False) -> User | None:
    """The account a Rattachement names (fixed when it was filed by or confirmed from its holder), while it still
    has, proven, the request's address; None once it is gone or its address changed."""
    if request.user_id is None:
        return None
    query = select(User.email, User.email_verified_at).where(User.id == request.user_id)
    row = session.execute(query.with_for_update() if lock else query).one_or_none()  # as stored now, not as loaded
    if row is None or row.email != request.email or row.email_verified_at is None:
        return None
    return session.get(User, request.user_id)


def open_request(session: Session, email: str, siret: str) -> int | None:
    """The id of a request from this address for this establishment still open (waiting for staff, or for its
    holder's confirmation), if any: a second one would be a duplicate."""
    return session.scalar(select(AccountRequest.id).where(
        AccountRequest.email == email, AccountRequest.siret == siret,
        AccountRequest.status.in_([RequestStatus.PENDING.value, RequestStatus.UNCONFIRMED.value]),
    ).limit(1))


def waiting_claim(session: Session, holder: User) -> int | None:
    """The id of the claim on `holder`'s account still waiting for its confirmation, if any."""
    return session.scalar(select(AccountRequest.id).where(
        AccountRequest.status == RequestStatus.UNCONFIRMED.value,
        or_(AccountRequest.user_id == holder.id, AccountRequest.email == holder.email),
    ).limit(1))


def stand_in(email: str) -> User:
    """An account that exists nowhere, for the work done when nobody is to be asked (never added to a session)."""
    return User(civility="M.", last_name="", first_name="", email=email, phone="+33600000000", email_verified_at=utcnow())


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
    """The holder confirmed from their mailbox: the request becomes pending and names their account; False if it
    no longer waits, or if the address no longer belongs, proven, to the active account it was filed against."""
    with transaction(session):
        holder = verified_account(session, request.email, lock=True)
        if holder is None or not holder.active:
            return False
        result = session.execute(
            update(AccountRequest)
            .where(AccountRequest.id == request.id, AccountRequest.status == RequestStatus.UNCONFIRMED.value,
                   # the account it was filed against, still holding the address (none recorded: filed before)
                   or_(AccountRequest.user_id.is_(None), AccountRequest.user_id == holder.id))
            .values(status=RequestStatus.PENDING.value, user_id=holder.id)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return False
        session.expire(request)
        audit.record(session, Actor(holder), "request.confirm", "request", request.id, request_label(request))
        notifications.notify_new_request(session, request)
        return True


def file_for_oneself(session: Session, holder: User, company_name: str, siret: str, ip: str | None = None) -> AccountRequest:
    """A logged-in holder asks for one more establishment: a confirmed Rattachement from the start."""
    with transaction(session):
        company_name = checked("company_name", clean_text, company_name, "La raison sociale", 200)
        siret = checked("siret", clean_siret, siret or "")
        if holder.email_verified_at is None:
            raise ServiceError("Validez d'abord votre adresse email (le lien vous a été envoyé), puis refaites votre demande.")
        if any(g.establishment.siret == siret for g in holder.grants):
            raise ServiceError("Vous êtes déjà rattaché(e) à cet établissement.", field="siret")
        if open_request(session, holder.email, siret) is not None:
            raise ServiceError("Une demande pour cet établissement est déjà en cours de traitement.", field="siret")
        request = AccountRequest(
            civility=holder.civility, last_name=holder.last_name, first_name=holder.first_name, email=holder.email,
            phone=holder.phone, job_title=holder.job_title, company_name=company_name, siret=siret,
            kind=RequestKind.ATTACHMENT.value, status=RequestStatus.PENDING.value, user_id=holder.id,
        )
        session.add(request)
        session.flush()
        audit.record(session, Actor(holder, ip), "request.create", "request", request.id, request_label(request), None,
                     {"kind": RequestKind.ATTACHMENT.value, "siret": siret, "company_name": company_name, "confirmed": True})
        emails.enqueue(session, request.email, "request_received", "Demande reçue", request=request)
        notifications.notify_new_request(session, request)
        return request


def file_on_behalf(session: Session, actor: Actor, email: str, establishment_id: int) -> AccountRequest | None:
    """An administrator who met an existing account (creating a user whose email has one) asks its holder to
    be attached to one of their establishments: a claim like any other, waiting for the holder's
    confirmation from their mailbox; the holder's identity is the account's, the email says who asked.

    Staff are told why nobody can be asked. A delegated administrator is not: whatever the address (no
    account, an unproven or inactive one, staff, already attached, already asked) the same work is done and
    MAYBE_ASKED is all they learn; None then means that nothing was sent.
    """
    with transaction(session):
        perimeter = decide_on(session, actor)
        establishment = session.get(Establishment, establishment_id)
        if establishment is None or not perimeter.contains(establishment.id) or not perimeter.administers_users:
            raise ServiceError(f"Cet établissement est {OUT_OF_PERIMETER}.")
        email = checked("email", clean_email, email)
        holder = verified_account(session, email, lock=True)
        why_not = _why_not_claimable(session, perimeter, email, holder, establishment)
        if why_not and perimeter.unrestricted:
            raise ServiceError(why_not)
        # Asked or not, the request, its history entry and its email are written; when nobody is to be asked,
        # they are dropped with the savepoint.
        savepoint = session.begin_nested()
        request = _ask(session, actor, holder if not why_not else stand_in(email), establishment)
        if why_not:
            savepoint.rollback()
            return None
        savepoint.commit()
        return request


def _why_not_claimable(session: Session, perimeter, email: str, holder: User | None, establishment: Establishment) -> str | None:
    """Why the holder of `email` cannot be asked to join `establishment` (in staff's words), or None."""
    if holder is None:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            return "Ce compte n'a pas encore validé son adresse email : son titulaire ne peut pas encore être sollicité."
        return "Aucun compte n'utilise cette adresse email : créez l'utilisateur."
    if not holder.active:
        return "Ce compte est désactivé : activez-le avant de proposer un rattachement."
    decision = perimeter.may_claim(holder)
    if not decision:
        return decision.reason
    if any(g.establishment_id == establishment.id for g in holder.grants):
        return "Ce compte est déjà rattaché à cet établissement."
    if open_request(session, holder.email, establishment.siret) is not None:
        return "Une demande de rattachement de ce compte à cet établissement est déjà en cours."
    if waiting_claim(session, holder) is not None:
        return "Ce compte a déjà une demande de rattachement en attente de la confirmation de son titulaire."
    return None


def _ask(session: Session, actor: Actor, holder: User, establishment: Establishment) -> AccountRequest:
    request = AccountRequest(
        civility=holder.civility, last_name=holder.last_name, first_name=holder.first_name, email=holder.email,
        phone=holder.phone, job_title=holder.job_title, company_name=establishment.company.name,
        siret=establishment.siret, kind=RequestKind.ATTACHMENT.value, status=RequestStatus.UNCONFIRMED.value,
        user_id=holder.id,
    )
    session.add(request)
    session.flush()
    audit.record(session, actor, "request.create", "request", request.id, request_label(request), None,
                 {"kind": RequestKind.ATTACHMENT.value, "siret": establishment.siret, "asked_by": actor.label})
    enqueue_confirmation(session, request, asked_by=actor.label)
    return request
