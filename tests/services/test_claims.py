"""Claims on existing accounts called directly: the confirmation link and what it accepts, the
holder's confirmation, and a request filed by the holder logged in; each checked in the database."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import current_app
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from admin_app.authority import perimeter_of
from admin_app.services import ServiceError, claims
from admin_app.services import requests as request_service
from admin_app.services.tokens import Purpose, make_token
from models import AccountRequest, AuditEvent, Habilitation, OutboundEmail, RequestKind, RequestStatus

from . import factories as f
from .factories import count, events, outbox

H = Habilitation


def status_of(session, request_id: int) -> str:
    session.expire_all()
    return session.get(AccountRequest, request_id).status


def max_age() -> timedelta:
    return current_app.config["EMAIL_LINK_MAX_AGE"]


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def sign(payload, *, salt: str = claims._SALT, key: str | None = None) -> str:
    return URLSafeTimedSerializer(key or current_app.config["SECRET_KEY"], salt=salt).dumps(payload)


@pytest.fixture
def cast(session):
    """ONE has A and B; staff, a Gestionnaire on A, Han (an account on B) and his claim on A from the public form."""
    one = f.company(session, "ONE")
    a, b = f.establishment(session, one, "A"), f.establishment(session, one, "B")
    cast = SimpleNamespace(a=a, b=b, staff=f.user(session, staff=True), manager=f.user(session, [(a, f.MANAGER)]),
                           holder=f.user(session, [(b, [H.REPORTING])], name="Solo"))
    session.commit()
    cast.claim = request_service.submit_request(session, {
        "civility": "M.", "last_name": "Solo", "first_name": "Han", "email": cast.holder.email, "phone": "0611223344",
        "company_name": "ONE", "siret": a.siret})
    return cast


def claim_of(session, cast, email: str, siret: str) -> AccountRequest:
    """Another unconfirmed claim, written directly."""
    request = AccountRequest(civility="M.", last_name="Solo", first_name="Han", email=email, phone="+33611223344",
                             company_name="ONE", siret=siret, kind=RequestKind.ATTACHMENT.value,
                             status=RequestStatus.UNCONFIRMED.value)
    session.add(request)
    session.commit()
    return request


# --- the link -------------------------------------------------------------------------------------

def test_the_emailed_link_leads_to_its_request(app, session, cast, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "http://localhost")  # the browser tests move it for their session
    link = claims.confirmation_link(cast.claim)
    assert link.startswith("http://localhost/account/confirm-attachment/")
    assert claims.request_of_token(session, token_of(link), max_age()).id == cast.claim.id
    (email,) = [e for e in outbox(session) if e.kind == "confirm_attachment"]
    emailed = re.search(r"https?://[^/\s]+/account/confirm-attachment/[\w.-]+", email.body_text).group(0)
    assert claims.request_of_token(session, token_of(emailed), max_age()).id == cast.claim.id
    assert status_of(session, cast.claim.id) == "unconfirmed"  # reading a link changes nothing


def test_a_forged_or_foreign_token_leads_nowhere(session, cast):
    good = token_of(claims.confirmation_link(cast.claim))
    payload = [cast.claim.id, cast.holder.email]
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for token in (
        tampered,
        "not-a-token",
        "",
        sign(payload, key="another-secret-key"),
        sign(payload, salt="mes-utilisateurs/verify-email"),  # another purpose's salt
        make_token(current_app.config["SECRET_KEY"], Purpose.VERIFY_EMAIL, cast.holder),  # a real link of another kind
        sign("not a pair"),
        sign(42),
        sign([str(cast.claim.id), cast.holder.email]),
        sign([0, cast.holder.email]),
        sign([2**40, cast.holder.email]),
    ):
        assert claims.request_of_token(session, token, max_age()) is None, token
    assert status_of(session, cast.claim.id) == "unconfirmed"


def test_an_expired_link_leads_nowhere(session, cast, monkeypatch):
    fresh = token_of(claims.confirmation_link(cast.claim))
    assert claims.request_of_token(session, fresh, timedelta(seconds=-1)) is None
    two_days_ago = int(time.time()) - int(max_age().total_seconds()) - 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: two_days_ago)
    old = token_of(claims.confirmation_link(cast.claim))
    monkeypatch.undo()
    assert claims.request_of_token(session, old, max_age()) is None
    assert claims.request_of_token(session, old, max_age() + timedelta(hours=1)) is not None  # only its age is wrong


def test_a_link_names_one_request_and_its_address(session, cast):
    other = claim_of(session, cast, cast.manager.email, cast.b.siret)
    assert claims.request_of_token(session, sign([other.id, cast.holder.email]), max_age()) is None
    assert claims.request_of_token(session, sign([cast.claim.id, cast.manager.email]), max_age()) is None
    assert claims.request_of_token(session, sign([other.id + 1000, cast.holder.email]), max_age()) is None
    assert claims.request_of_token(session, token_of(claims.confirmation_link(other)), max_age()).id == other.id


@pytest.mark.parametrize("then", ["confirmed", "refused", "approved"])
def test_a_link_to_a_request_no_longer_waiting_leads_nowhere(session, cast, then):
    token = token_of(claims.confirmation_link(cast.claim))
    claims.confirm(session, cast.claim)
    if then == "refused":
        request_service.refuse_requests(session, f.actor(cast.staff), [cast.claim.id], "not_confirmed")
    elif then == "approved":
        request_service.approve_many(session, f.actor(cast.staff), [cast.claim.id])
    assert status_of(session, cast.claim.id) == {"confirmed": "pending", "refused": "refused", "approved": "approved"}[then]
    assert claims.request_of_token(session, token, max_age()) is None


# --- confirm --------------------------------------------------------------------------------------

def test_confirming_makes_the_claim_pending_and_visible_and_records_who(session, cast):
    visible = select(AccountRequest.id).where(perimeter_of(session, f.actor(cast.manager)).requests())
    assert list(session.scalars(visible)) == []
    assert claims.confirm(session, cast.claim) is True
    assert status_of(session, cast.claim.id) == "pending"
    assert list(session.scalars(visible)) == [cast.claim.id]
    (confirmed,) = events(session, "request.confirm")
    assert (confirmed.actor_id, confirmed.actor_label) == (cast.holder.id, f.actor(cast.holder).label)
    assert (confirmed.target_type, confirmed.target_id) == ("request", cast.claim.id)
    assert session.get(AccountRequest, cast.claim.id).decided_at is None  # confirmed is not decided

    assert claims.confirm(session, cast.claim) is False
    assert len(events(session, "request.confirm")) == 1 and status_of(session, cast.claim.id) == "pending"


@pytest.mark.parametrize("holder", ["inactive", "deleted"])
def test_only_an_active_holder_confirms(session, cast, holder):
    if holder == "inactive":
        cast.holder.active = False
    else:
        session.delete(cast.holder)
    session.commit()
    audited = count(session, AuditEvent)
    assert claims.confirm(session, cast.claim) is False
    assert status_of(session, cast.claim.id) == "unconfirmed"
    assert count(session, AuditEvent) == audited


# --- file_for_oneself -----------------------------------------------------------------------------

def test_a_holder_logged_in_files_a_claim_pending_at_once(session, cast):
    other = f.establishment(session, cast.a.company, "A3")
    session.commit()
    request = claims.file_for_oneself(session, cast.holder, "ONE", other.siret, ip="198.51.100.7")
    session.expire_all()
    stored = session.get(AccountRequest, request.id)
    holder = cast.holder
    assert (stored.kind, stored.status, stored.siret, stored.company_name) == ("attachment", "pending", other.siret, "ONE")
    assert (stored.email, stored.last_name, stored.first_name, stored.phone) == \
        (holder.email, holder.last_name, holder.first_name, holder.phone)
    created = events(session, "request.create")[-1]
    assert (created.actor_id, created.ip, created.target_id) == (holder.id, "198.51.100.7", request.id)
    assert created.after == {"kind": "attachment", "siret": other.siret, "company_name": "ONE", "confirmed": True}
    assert [(e.kind, e.recipient) for e in outbox(session) if e.kind != "request_notification"][-1] == \
        ("request_received", holder.email)
    # typed with a space between SIREN and NIC, as the guide shows it
    assert claims.file_for_oneself(session, cast.manager, "ONE", f"{cast.b.siret[:9]} {cast.b.siret[9:]}").siret == cast.b.siret


def test_refusals_of_a_claim_filed_logged_in(session, cast):
    before = (count(session, AccountRequest), count(session, AuditEvent), count(session, OutboundEmail))
    with pytest.raises(ServiceError) as refused:
        claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret)
    assert (refused.value.message, refused.value.field) == ("Vous êtes déjà rattaché(e) à cet établissement.", "siret")
    with pytest.raises(ServiceError) as refused:  # the public form's claim on A still waits
        claims.file_for_oneself(session, cast.holder, "ONE", cast.a.siret)
    assert "déjà en cours de traitement" in refused.value.message and refused.value.field == "siret"
    assert (count(session, AccountRequest), count(session, AuditEvent), count(session, OutboundEmail)) == before

    first = claims.file_for_oneself(session, cast.manager, "ONE", cast.b.siret)
    with pytest.raises(ServiceError, match="déjà en cours de traitement"):
        claims.file_for_oneself(session, cast.manager, "ONE", cast.b.siret)
    assert count(session, AccountRequest, AccountRequest.email == cast.manager.email) == 1
    assert status_of(session, first.id) == "pending"


@pytest.mark.parametrize("siret, message", [
    ("1234", "Le SIRET doit comporter 14 chiffres."),
    ("SIRET-ABCDEFGHIJ", "Le SIRET doit comporter 14 chiffres."),
    ("73282932000075", "Ce SIRET n'est pas valide (clé de contrôle incorrecte)."),
])
def test_a_bad_siret_is_refused_in_french_on_its_field(session, cast, siret, message):
    before = (count(session, AccountRequest), count(session, AuditEvent), count(session, OutboundEmail))
    with pytest.raises(ServiceError) as refused:
        claims.file_for_oneself(session, cast.holder, "ONE", siret)
    assert (refused.value.message, refused.value.field) == (message, "siret")
    assert (count(session, AccountRequest), count(session, AuditEvent), count(session, OutboundEmail)) == before


def test_a_missing_company_name_is_refused_on_its_field(session, cast):
    with pytest.raises(ServiceError) as refused:
        claims.file_for_oneself(session, cast.holder, "  ", cast.a.siret)
    assert refused.value.field == "company_name"
    assert count(session, AccountRequest) == 1
