"""Account creation requests: submitted from the public form, approved or refused by staff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from admin_app.authority import Perimeter
from models import (
    AccountRequest,
    Establishment,
    Habilitation,
    RequestKind,
    RequestStatus,
    User,
    utcnow,
)
from models.rules import clean_siret, clean_text
from models.wording import request_label, user_label

from . import audit, claims, emails, notifications
from .common import Actor, ServiceError, checked, transaction
from .locks import decide_on
from .users import GrantInput, clean_personal_data, create_user, edit_user, save_grants

REFUSAL_REASONS: dict[str, str] = {
    "cpf": "Mon compte DEFI est réservé aux entreprises et à leurs services RH. Pour votre compte personnel "
           "de formation (CPF), rendez-vous sur moncompteformation.gouv.fr.",
    "not_client": "L'établissement indiqué n'est pas adhérent : nous ne pouvons pas ouvrir d'accès pour lui.",
    "duplicate": "Vous disposez déjà d'un accès à cet établissement, ou une autre demande a déjà été traitée.",
    "not_confirmed": "Votre entreprise n'a pas confirmé que vous devez accéder à Mon compte DEFI pour cet établissement.",
    "other": "Autre motif",
}
REFUSAL_CHOICES = {
    "cpf": "Salarié à la recherche de la plateforme CPF",
    "not_client": "Établissement non adhérent",
    "duplicate": "Demande en double ou accès existant",
    "not_confirmed": "Rattachement non confirmé par l'entreprise",
    "other": "Autre (préciser)",
}


# --- the public form ---------------------------------------------------------------------------------

def submit_request(session: Session, data: dict[str, Any], ip: str | None = None) -> AccountRequest | None:
    """Record a request from the public form; the visitor is told the same thing whatever happens here.

    For an email without a verified account: an "Ouverture", pending, acknowledged by email. For an email that
    a verified account has: a "Rattachement" that waits for the holder's confirmation (services.claims), asked
    at the account's own address; until then nobody sees it. A request already waiting for the same email
    and establishment, or a second claim on an account that has one waiting, files nothing and sends nothing:
    the same work is done, then dropped, and None is returned (the visitor is not told).
    """
    with transaction(session):
        personal = clean_personal_data(data)
        company_name = checked("company_name", clean_text, data.get("company_name"), "La raison sociale", 200)
        siret = checked("siret", clean_siret, data.get("siret") or "")
        holder = claims.verified_account(session, personal["email"], lock=True)
        duplicate = claims.open_request(session, personal["email"], siret) is not None or (
            holder is not None and claims.waiting_claim(session, holder) is not None)
        savepoint = session.begin_nested()
        request = _file(session, personal, company_name, siret, holder, ip)
        if duplicate:
            savepoint.rollback()
            return None
        savepoint.commit()
        return request


def _file(session: Session, personal: dict[str, Any], company_name: str, siret: str, holder: User | None,
          ip: str | None) -> AccountRequest:
    kind = RequestKind.ATTACHMENT if holder is not None else RequestKind.OPENING
    status = RequestStatus.UNCONFIRMED if holder is not None else RequestStatus.PENDING
    request = AccountRequest(**personal, company_name=company_name, siret=siret, kind=kind.value, status=status.value,
                             user_id=holder.id if holder is not None else None)
    session.add(request)
    session.flush()
    audit.record(session, Actor(None, ip), "request.create", "request", request.id, request_label(request), None,
                 {"kind": kind.value, "siret": siret, "company_name": company_name, "status": status.value})
    if holder is not None:
        claims.enqueue_confirmation(session, request)  # the deciders are told once the holder confirms
    else:
        emails.enqueue(session, request.email, "request_received", "Demande reçue", request=request)
        notifications.notify_new_request(session, request)
    return request


# --- deciding --------------------------------------------------------------------------------------------

def matching_establishment(session: Session, request: AccountRequest) -> Establishment | None:
    return session.scalar(select(Establishment).where(Establishment.siret == request.siret))


def requester_account(session: Session, request: AccountRequest) -> User | None:
    """The account a "Rattachement" is about: the one its holder confirmed, while it keeps the request's
    address (services.claims.bound_account); None for an "Ouverture"."""
    if request.kind != RequestKind.ATTACHMENT.value:
        return None
    return claims.bound_account(session, request)


def _require_decidable(session: Session, perimeter: Perimeter, request: AccountRequest) -> Establishment | None:
    """Refuse unless the authority model lets this actor decide the request; return its establishment."""
    establishment = matching_establishment(session, request)
    decision = perimeter.may_decide(request, establishment.id if establishment else None)
    if not decision:
        raise ServiceError(decision.reason)
    return establishment


def _require_claimable(perimeter: Perimeter, user: User) -> None:
    decision = perimeter.may_claim(user)
    if not decision:
        raise ServiceError(decision.reason)


def _decide(session: Session, actor: Actor, request: AccountRequest, status: RequestStatus, **values: Any) -> None:
    """Move a pending request to `status`; refuse if someone decided it meanwhile.

    A conditional UPDATE: of two staff members deciding at the same moment, the
    second waits for the first's row lock, then finds it no longer pending.
    """
    result = session.execute(
        update(AccountRequest)
        .where(AccountRequest.id == request.id, AccountRequest.status == RequestStatus.PENDING.value)
        .values(status=status.value, decided_at=utcnow(), decided_by_id=actor.id, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ServiceError(
            f"La demande de {request.first_name} {request.last_name} a déjà été traitée par quelqu'un d'autre."
        )
    session.expire(request)


def approve_opening(
    session: Session, actor: Actor, request: AccountRequest, data: dict[str, Any], grant_rows: Sequence[GrantInput]
) -> User:
    """Approve an "Ouverture": create the user from the (pre-filled) form, with their grants."""
    with transaction(session):
        _require_decidable(session, decide_on(session, actor), request)
        if request.kind != RequestKind.OPENING.value:
            raise ServiceError("Cette demande est un rattachement à un compte existant : elle ne crée pas de compte.")
        _decide(session, actor, request, RequestStatus.APPROVED)
        user = create_user(session, actor, data, grant_rows)
        session.execute(update(AccountRequest).where(AccountRequest.id == request.id).values(user_id=user.id))
        audit.record(session, actor, "request.approve", "request", request.id, request_label(request), None, {"user": user_label(user)})
        return user


def approve_attachment(
    session: Session, actor: Actor, request: AccountRequest, user: User, expected_version: int,
    data: dict[str, Any] | None, grant_rows: Sequence[GrantInput],
) -> User:
    """Approve a "Rattachement": save the edit page of the account it names, with the new establishment; refused
    once that account is gone or no longer has, proven, the request's address.

    `data` (identity fields) is None when the actor may not govern the account: only grants change then.
    """
    with transaction(session):
        perimeter = decide_on(session, actor, [user.id])
        _require_decidable(session, perimeter, request)
        account = claims.bound_account(session, request, lock=True)
        if account is None:
            raise ServiceError(claims.ACCOUNT_GONE)
        if account.id != user.id:
            raise ServiceError("Cette demande concerne un autre compte.")
        _require_claimable(perimeter, user)
        _decide(session, actor, request, RequestStatus.APPROVED, user_id=user.id)
        edit_user(session, actor, user, expected_version, data, grant_rows)
        audit.record(session, actor, "request.approve", "request", request.id, request_label(request), None, {"user": user_label(user)})
        return user


@dataclass
class BulkOutcome:
    """What a bulk decision did: the requests decided, and those skipped with the reason."""

    done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (who, why)


def _requests(session: Session, ids: Sequence[int] | Select) -> list[AccountRequest]:
    query = select(AccountRequest).order_by(AccountRequest.requested_at, AccountRequest.id)
    if isinstance(ids, Select):
        return list(session.scalars(query.where(AccountRequest.id.in_(ids))))
    return list(session.scalars(query.where(AccountRequest.id.in_([int(i) for i in ids]))))


def approve_many(session: Session, actor: Actor, ids: Sequence[int] | Select) -> BulkOutcome:
    """Approve each request with its matched establishment and no habilitation; skip, with the reason, those that can't."""
    with transaction(session):
        outcome = BulkOutcome()
        chosen = _requests(session, ids)
        perimeter = decide_on(session, actor, [r.user_id for r in chosen if r.user_id is not None])
        for request in chosen:
            who = f"{request.last_name} {request.first_name}"
            if request.status not in (RequestStatus.PENDING.value, RequestStatus.UNCONFIRMED.value):
                outcome.skipped.append((who, "déjà traitée"))
                continue
            establishment = matching_establishment(session, request)
            decision = perimeter.may_decide(request, establishment.id if establishment else None)
            if not decision:
                outcome.skipped.append((who, decision.reason.rstrip(".")))
                continue
            if establishment is None:
                outcome.skipped.append((who, f"SIRET {request.siret} inconnu"))
                continue
            if request.kind == RequestKind.ATTACHMENT.value:
                existing = claims.bound_account(session, request, lock=True)
                if existing is None:
                    outcome.skipped.append((who, "le compte à rattacher n'existe plus, a changé d'adresse email ou ne l'a pas validée"))
                    continue
                if not perimeter.may_claim(existing):
                    outcome.skipped.append((who, perimeter.may_claim(existing).reason.rstrip(".")))
                    continue
            else:
                existing = None
                if session.scalar(select(User.id).where(User.email == request.email)) is not None:  # proven or not
                    outcome.skipped.append((who, "adresse email déjà utilisée par un compte"))
                    continue
            savepoint = session.begin_nested()
            try:
                _decide(session, actor, request, RequestStatus.APPROVED)
                if existing is None:
                    data = {name: getattr(request, name) for name in ("civility", "last_name", "first_name", "email", "phone", "job_title")}
                    user = create_user(session, actor, data, [GrantInput(establishment.id, is_primary=True)])
                else:
                    user = existing
                    if any(g.establishment_id == establishment.id for g in user.grants):
                        raise ServiceError("déjà rattaché à cet établissement")
                    # The actor sends back the rows they see, unchanged, plus the new one.
                    rows = [GrantInput(g.establishment_id, g.is_primary, {h for h in Habilitation if getattr(g, h.value)})
                            for g in perimeter.visible_grants(user)]
                    rows.append(GrantInput(establishment.id, is_primary=not user.grants))
                    save_grants(session, actor, user, rows)
                session.execute(update(AccountRequest).where(AccountRequest.id == request.id).values(user_id=user.id))
                audit.record(session, actor, "request.approve", "request", request.id, request_label(request), None,
                             {"user": user_label(user)})
            except ServiceError as exc:
                savepoint.rollback()
                outcome.skipped.append((who, exc.message))
                continue
            savepoint.commit()
            outcome.done.append(who)
        return outcome


def refuse_requests(
    session: Session, actor: Actor, ids: Sequence[int] | Select, reason_code: str, details: str = ""
) -> BulkOutcome:
    """Refuse pending requests with a reason that is kept and emailed to each requester."""
    with transaction(session):
        if reason_code not in REFUSAL_REASONS:
            raise ServiceError("Choisissez un motif de refus.", field="reason")
        details = checked("details", clean_text, details, "Le motif", 2000, required=False, multiline=True)
        if reason_code == "other" and not details:
            raise ServiceError("Précisez le motif du refus.", field="details")
        reason = details if reason_code == "other" else REFUSAL_REASONS[reason_code] + (f"\n{details}" if details else "")
        outcome = BulkOutcome()
        chosen = _requests(session, ids)
        perimeter = decide_on(session, actor)
        for request in chosen:
            if request.status != RequestStatus.UNCONFIRMED.value:  # those are told apart below, as never pending
                _require_decidable(session, perimeter, request)
        for request in chosen:
            who = f"{request.last_name} {request.first_name}"
            if request.status != RequestStatus.PENDING.value:
                outcome.skipped.append((who, "déjà traitée"))
                continue
            _decide(session, actor, request, RequestStatus.REFUSED, refusal_reason=reason)
            emails.enqueue(session, request.email, "request_refused", "Votre demande de compte n'a pas été acceptée",
                           request=request, reason=reason)
            audit.record(session, actor, "request.refuse", "request", request.id, request_label(request), None, {"motif": reason})
            outcome.done.append(who)
        return outcome
