"""The account-request service called directly: the public form, approving one request (Ouverture,
Rattachement) or many, and refusing with a reason; each checked in the database (requests, users,
grants, audit trail, outbox)."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from flask import current_app
from sqlalchemy import select
from stdnum import luhn

from admin_app.authority import REFUSED_STAFF, perimeter_of
from admin_app.services import ServiceError, claims
from admin_app.services import requests as request_service
from admin_app.services.requests import REFUSAL_REASONS
from admin_app.services.users import GrantInput
from models import (
    AccountRequest,
    AuditEvent,
    Grant,
    Habilitation,
    OutboundEmail,
    RequestKind,
    RequestStatus,
    User,
)
from models.wording import user_label

from . import factories as f
from .factories import count, events, outbox

H = Habilitation
DECIDED_ELSEWHERE = "a déjà été traitée par quelqu'un d'autre"


# --- helpers --------------------------------------------------------------------------------------

def form(siret: str, **over) -> dict:
    """The public request form, as typed."""
    return {"civility": "M.", "last_name": "Skywalker", "first_name": "Luke", "email": "Luke@Example.org",
            "phone": "06 11 22 33 44", "job_title": "Pilote", "company_name": "ONE", "siret": siret, **over}


def filed(session, siret: str, *, email: str = "luke@example.org", name: str = "Skywalker",
          kind: RequestKind = RequestKind.OPENING, status: RequestStatus = RequestStatus.PENDING) -> AccountRequest:
    """A request as the form would have left it, written directly."""
    request = AccountRequest(civility="M.", last_name=name, first_name="Luke", email=email, phone="+33611223344",
                             company_name="ONE", siret=siret, kind=kind.value, status=status.value)
    if kind == RequestKind.ATTACHMENT:  # a claim names the account it was filed against (and confirmed from)
        request.user_id = session.scalar(select(User.id).where(User.email == email))
    session.add(request)
    session.flush()
    return request


def status_of(session, request_id: int) -> str:
    session.expire_all()
    return session.get(AccountRequest, request_id).status


def grants_of(session, user_id: int) -> dict[int, tuple[bool, frozenset]]:
    session.expire_all()
    return {g.establishment_id: (g.is_primary, g.habilitations)
            for g in session.scalars(select(Grant).where(Grant.user_id == user_id))}


def snapshot(session) -> tuple:
    """What a refused decision must leave untouched."""
    session.expire_all()
    requests = sorted((r.id, r.status, r.decided_by_id, r.refusal_reason, r.user_id)
                      for r in session.scalars(select(AccountRequest)))
    grants = sorted((g.user_id, g.establishment_id, g.is_primary) for g in session.scalars(select(Grant)))
    return requests, grants, count(session, User), count(session, AuditEvent), count(session, OutboundEmail)


@pytest.fixture
def cast(session):
    """ONE has A and B, OTHER has C; staff, a Gestionnaire on A, and Han, an account holder on C."""
    one, other = f.company(session, "ONE"), f.company(session, "OTHER")
    a, b = f.establishment(session, one, "A"), f.establishment(session, one, "B")
    c = f.establishment(session, other, "C")
    cast = SimpleNamespace(
        a=a, b=b, c=c,
        unknown_siret=one.siren + "9998" + luhn.calc_check_digit(one.siren + "9998"),
        staff=f.user(session, staff=True),
        manager=f.user(session, [(a, f.MANAGER)]),
        holder=f.user(session, [(c, [H.REPORTING])], name="Solo"),
    )
    session.commit()
    return cast


# --- submit_request -------------------------------------------------------------------------------

def test_a_new_email_files_a_pending_opening_acknowledged_by_email(session, cast):
    spaced = f"{cast.a.siret[:3]} {cast.a.siret[3:6]} {cast.a.siret[6:9]} {cast.a.siret[9:]}"
    request = request_service.submit_request(session, form(spaced), ip="203.0.113.5")
    session.expire_all()
    stored = session.get(AccountRequest, request.id)
    assert (stored.kind, stored.status, stored.siret, stored.email) == ("opening", "pending", cast.a.siret, "luke@example.org")
    assert (stored.last_name, stored.first_name, stored.phone, stored.company_name) == ("SKYWALKER", "Luke", "+33611223344", "ONE")
    assert stored.decided_at is None and stored.user_id is None
    (created,) = [e for e in events(session) if e.action != "request.notify"]  # those: test_notifications.py
    assert (created.action, created.actor_id, created.actor_label, created.ip) == ("request.create", None, "Système", "203.0.113.5")
    assert created.after == {"kind": "opening", "siret": cast.a.siret, "company_name": "ONE", "status": "pending"}
    (email,) = [e for e in outbox(session) if e.kind != "request_notification"]  # those: test_notifications.py
    assert (email.kind, email.recipient, email.subject) == ("request_received", "luke@example.org", "Demande reçue")
    assert count(session, User) == 3  # no account is made before someone decides


def test_an_existing_accounts_email_files_a_claim_that_waits_for_the_holder(session, cast):
    opening = request_service.submit_request(session, form(cast.b.siret))
    claim = request_service.submit_request(session, form(cast.a.siret, email=cast.holder.email.upper(), last_name="Solo"))
    assert type(claim) is type(opening)  # the visitor is told the same thing either way
    session.expire_all()
    stored = session.get(AccountRequest, claim.id)
    assert (stored.kind, stored.status, stored.email) == ("attachment", "unconfirmed", cast.holder.email)
    to_holder = [e for e in outbox(session) if e.recipient == cast.holder.email]
    assert [e.kind for e in to_holder] == ["confirm_attachment"]  # and no "Demande reçue"
    token = re.search(r"/account/confirm-attachment/([\w.-]+)", to_holder[0].body_text).group(1)
    assert claims.request_of_token(session, token, current_app.config["EMAIL_LINK_MAX_AGE"]).id == claim.id
    assert [e.kind for e in outbox(session) if e.recipient != cast.holder.email and e.kind != "request_notification"] \
        == ["request_received"]
    assert events(session, "request.create")[1].after["status"] == "unconfirmed"
    staff_sees = select(AccountRequest.id).where(perimeter_of(session, f.actor(cast.staff)).requests())
    assert list(session.scalars(staff_sees)) == [opening.id]  # nobody sees the claim before the holder confirms


@pytest.mark.parametrize("existing", ["pending opening", "unconfirmed claim"])
def test_a_second_request_for_the_same_email_and_establishment_files_and_sends_nothing(session, cast, existing):
    email = "luke@example.org" if existing == "pending opening" else cast.holder.email
    request_service.submit_request(session, form(cast.a.siret, email=email))
    before = snapshot(session)
    assert request_service.submit_request(session, form(cast.a.siret, email=email.upper())) is None  # nothing said
    assert snapshot(session) == before
    again = request_service.submit_request(session, form(cast.b.siret, email=email))  # another establishment
    # an Ouverture: fine; a second claim on an account whose first still waits: nothing (test_claims_identity.py)
    assert (again is None) == (existing == "unconfirmed claim")
    assert count(session, AccountRequest) == (2 if existing == "pending opening" else 1)


def test_a_decided_request_does_not_block_a_new_one(session, cast):
    first = request_service.submit_request(session, form(cast.a.siret))
    request_service.refuse_requests(session, f.actor(cast.staff), [first.id], "duplicate")
    again = request_service.submit_request(session, form(cast.a.siret))
    assert status_of(session, again.id) == "pending" and count(session, AccountRequest) == 2


@pytest.mark.parametrize("field, value", [("siret", "123"), ("siret", "12345678901234"), ("company_name", " "),
                                          ("email", "luke"), ("civility", "")])
def test_an_invalid_form_is_refused_on_its_field(session, cast, field, value):
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        request_service.submit_request(session, {**form(cast.a.siret), field: value})
    assert refused.value.field == field
    assert snapshot(session) == before


# --- approve_opening ------------------------------------------------------------------------------

def test_approving_an_opening_creates_the_user_and_records_the_decision(session, cast):
    request = filed(session, cast.a.siret)
    session.commit()
    user = request_service.approve_opening(session, f.actor(cast.staff), request, form(cast.a.siret),
                                           [GrantInput(cast.a.id, True, {H.FUNDING})])
    session.expire_all()
    stored = session.get(AccountRequest, request.id)
    assert (stored.status, stored.decided_by_id, stored.user_id) == ("approved", cast.staff.id, user.id)
    assert stored.decided_at is not None
    made = session.get(User, user.id)
    assert made.email == "luke@example.org" and made.password_hash is None
    assert grants_of(session, user.id) == {cast.a.id: (True, frozenset({H.FUNDING}))}
    (approved,) = events(session, "request.approve")
    assert (approved.actor_id, approved.target_type, approved.target_id) == (cast.staff.id, "request", request.id)
    assert approved.after == {"user": user_label(made)}
    assert [e.action for e in events(session)] == ["user.create", "user.grants", "request.approve"]
    assert [(e.kind, e.recipient) for e in outbox(session)] == [("verify_email", "luke@example.org")]


def test_an_opening_decided_twice_is_refused_the_second_time(session, cast):
    request = filed(session, cast.a.siret)
    session.commit()
    request_service.approve_opening(session, f.actor(cast.staff), request, form(cast.a.siret), [GrantInput(cast.a.id, True)])
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        request_service.approve_opening(session, f.actor(cast.manager), request, form(cast.a.siret, email="other@example.org"),
                                        [GrantInput(cast.a.id, True)])
    assert DECIDED_ELSEWHERE in refused.value.message and "Luke SKYWALKER" in refused.value.message
    assert snapshot(session) == before
    assert session.get(AccountRequest, request.id).decided_by_id == cast.staff.id


def test_an_opening_whose_user_cannot_be_created_stays_pending(session, cast):
    request = filed(session, cast.a.siret, email=cast.holder.email)
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        request_service.approve_opening(session, f.actor(cast.staff), request, form(cast.a.siret, email=cast.holder.email),
                                        [GrantInput(cast.a.id, True)])
    assert refused.value.field == "email"
    assert snapshot(session) == before and status_of(session, request.id) == "pending"


@pytest.mark.parametrize("case, message", [
    ("unconfirmed", "attend la confirmation"),
    ("out of perimeter", "hors de votre périmètre"),
])
def test_an_opening_the_actor_may_not_decide_stays_as_it_was(session, cast, case, message):
    request = filed(session, cast.c.siret if case == "out of perimeter" else cast.a.siret,
                    status=RequestStatus.UNCONFIRMED if case == "unconfirmed" else RequestStatus.PENDING)
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError, match=message):
        request_service.approve_opening(session, f.actor(cast.manager), request, form(request.siret),
                                        [GrantInput(cast.a.id, True)])
    assert snapshot(session) == before


# --- approve_attachment ---------------------------------------------------------------------------

def test_approving_a_claim_attaches_the_existing_account(session, cast):
    holder = cast.holder
    request = filed(session, cast.a.siret, email=holder.email, kind=RequestKind.ATTACHMENT)
    session.commit()
    request_service.approve_attachment(session, f.actor(cast.staff), request, holder, holder.version, None, [
        GrantInput(cast.c.id, True, {H.REPORTING}), GrantInput(cast.a.id, False, {H.PAYMENTS})])
    session.expire_all()
    stored = session.get(AccountRequest, request.id)
    assert (stored.status, stored.decided_by_id, stored.user_id) == ("approved", cast.staff.id, holder.id)
    assert grants_of(session, holder.id) == {cast.c.id: (True, frozenset({H.REPORTING})),
                                             cast.a.id: (False, frozenset({H.PAYMENTS}))}
    (approved,) = events(session, "request.approve")
    assert (approved.target_id, approved.after) == (request.id, {"user": user_label(session.get(User, holder.id))})
    assert [e.action for e in events(session)] == ["user.grants", "request.approve"]
    assert count(session, User) == 3


def test_a_gestionnaire_approves_a_claim_with_the_grants_of_their_perimeter_only(session, cast):
    holder = cast.holder
    request = filed(session, cast.a.siret, email=holder.email, kind=RequestKind.ATTACHMENT)
    session.commit()
    request_service.approve_attachment(session, f.actor(cast.manager), request, holder, holder.version, None,
                                       [GrantInput(cast.a.id, False, {H.FUNDING})])
    assert grants_of(session, holder.id) == {cast.c.id: (True, frozenset({H.REPORTING})),
                                             cast.a.id: (False, frozenset({H.FUNDING}))}
    assert status_of(session, request.id) == "approved"


@pytest.mark.parametrize("case", ["twice", "another account"])
def test_a_claim_refused_at_approval_changes_nothing(session, cast, case):
    holder, stranger = cast.holder, f.user(session, [(cast.b, [H.REPORTING])])
    request = filed(session, cast.a.siret, email=holder.email, kind=RequestKind.ATTACHMENT)
    session.commit()
    rows = [GrantInput(cast.c.id, True, {H.REPORTING}), GrantInput(cast.a.id, False)]
    if case == "twice":
        request_service.approve_attachment(session, f.actor(cast.staff), request, holder, holder.version, None, rows)
        target, rows = holder, [GrantInput(cast.c.id, True, {H.REPORTING}), GrantInput(cast.a.id, False, {H.PAYMENTS})]
    else:
        target = stranger
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        request_service.approve_attachment(session, f.actor(cast.staff), request, target, target.version, None, rows)
    assert (DECIDED_ELSEWHERE if case == "twice" else "Cette demande concerne un autre compte.") in refused.value.message
    assert snapshot(session) == before


# --- approve_many ---------------------------------------------------------------------------------

def test_approving_many_decides_what_it_can_and_says_why_it_skipped_the_rest(session, cast):
    attached = f.user(session, [(cast.a, [H.REPORTING])], name="Lars")
    fine_opening = filed(session, cast.a.siret, email="biggs@example.org", name="Darklighter")
    fine_claim = filed(session, cast.b.siret, email=cast.holder.email, name="Solo", kind=RequestKind.ATTACHMENT)
    unconfirmed = filed(session, cast.b.siret, email="wedge@example.org", name="Antilles",
                        kind=RequestKind.ATTACHMENT, status=RequestStatus.UNCONFIRMED)
    unknown = filed(session, cast.unknown_siret, email="jyn@example.org", name="Erso")
    already = filed(session, cast.a.siret, email=attached.email, name="Lars", kind=RequestKind.ATTACHMENT)
    decided = filed(session, cast.a.siret, email="cassian@example.org", name="Andor", status=RequestStatus.REFUSED)
    taken = filed(session, cast.b.siret, email=cast.manager.email, name="Taken")
    session.commit()
    ids = [r.id for r in (fine_opening, fine_claim, unconfirmed, unknown, already, decided, taken)]

    outcome = request_service.approve_many(session, f.actor(cast.staff), ids)

    assert sorted(outcome.done) == ["DARKLIGHTER Luke", "SOLO Luke"]
    assert dict(outcome.skipped) == {
        "ANTILLES Luke": "Cette demande attend la confirmation du titulaire du compte",
        "ERSO Luke": f"SIRET {cast.unknown_siret} inconnu",
        "LARS Luke": "déjà rattaché à cet établissement",
        "ANDOR Luke": "déjà traitée",
        "TAKEN Luke": "adresse email déjà utilisée par un compte",
    }
    statuses = {r.id: status_of(session, r.id) for r in (fine_opening, fine_claim, unconfirmed, unknown, already, decided, taken)}
    assert statuses == {fine_opening.id: "approved", fine_claim.id: "approved", unconfirmed.id: "unconfirmed",
                        unknown.id: "pending", already.id: "pending", decided.id: "refused", taken.id: "pending"}
    biggs = session.scalars(select(User).where(User.email == "biggs@example.org")).one()
    assert grants_of(session, biggs.id) == {cast.a.id: (True, frozenset())}
    assert grants_of(session, cast.holder.id) == {cast.c.id: (True, frozenset({H.REPORTING})), cast.b.id: (False, frozenset())}
    assert grants_of(session, attached.id) == {cast.a.id: (True, frozenset({H.REPORTING}))}
    assert session.get(AccountRequest, fine_opening.id).user_id == biggs.id
    assert session.get(AccountRequest, fine_claim.id).user_id == cast.holder.id
    assert session.get(AccountRequest, already.id).decided_by_id is None  # its savepoint was rolled back
    assert sorted(e.target_id for e in events(session, "request.approve")) == sorted([fine_opening.id, fine_claim.id])
    assert [(e.kind, e.recipient) for e in outbox(session)] == [("verify_email", "biggs@example.org")]


def test_approving_many_as_a_gestionnaire_skips_other_establishments_and_staff_accounts(session, cast):
    staff_account = f.user(session, staff=True, name="Tarkin")
    ours = filed(session, cast.a.siret, email="biggs@example.org", name="Darklighter")
    theirs = filed(session, cast.c.siret, email="jyn@example.org", name="Erso")
    staff_claim = filed(session, cast.a.siret, email=staff_account.email, name="Tarkin", kind=RequestKind.ATTACHMENT)
    session.commit()

    outcome = request_service.approve_many(session, f.actor(cast.manager), [ours.id, theirs.id, staff_claim.id])

    assert outcome.done == ["DARKLIGHTER Luke"]
    skipped = dict(outcome.skipped)
    assert set(skipped) == {"ERSO Luke", "TARKIN Luke"}
    assert "hors de votre périmètre" in skipped["ERSO Luke"]
    assert skipped["TARKIN Luke"] == REFUSED_STAFF.reason.rstrip(".")
    assert (status_of(session, ours.id), status_of(session, theirs.id), status_of(session, staff_claim.id)) == \
        ("approved", "pending", "pending")
    assert grants_of(session, staff_account.id) == {}
    assert [e.target_id for e in events(session, "request.approve")] == [ours.id]
    assert session.get(AccountRequest, ours.id).decided_by_id == cast.manager.id


# --- refuse_requests ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["cpf", "not_client", "duplicate", "not_confirmed"])
def test_a_preset_reason_with_details_keeps_and_emails_both(session, cast, code):
    details = "Le SIRET donné appartient à une autre entreprise du groupe."
    first, second = filed(session, cast.a.siret), filed(session, cast.b.siret, email="biggs@example.org", name="Darklighter")
    session.commit()

    outcome = request_service.refuse_requests(session, f.actor(cast.staff), [first.id, second.id], code, details)

    assert sorted(outcome.done) == ["DARKLIGHTER Luke", "SKYWALKER Luke"] and outcome.skipped == []
    session.expire_all()
    for request in (first, second):
        stored = session.get(AccountRequest, request.id)
        assert (stored.status, stored.decided_by_id) == ("refused", cast.staff.id) and stored.decided_at is not None
        assert REFUSAL_REASONS[code] in stored.refusal_reason and details in stored.refusal_reason
    emails = outbox(session, "request_refused")
    assert sorted(e.recipient for e in emails) == ["biggs@example.org", "luke@example.org"]
    for email in emails:
        assert REFUSAL_REASONS[code] in email.body_text and details in email.body_text
        assert REFUSAL_REASONS[code] in html.unescape(email.body_html) and details in html.unescape(email.body_html)
    refused = events(session, "request.refuse")
    assert sorted(e.target_id for e in refused) == sorted([first.id, second.id])
    assert all(REFUSAL_REASONS[code] in e.after["motif"] and details in e.after["motif"] for e in refused)


def test_a_preset_reason_alone_is_kept_and_emailed(session, cast):
    request = filed(session, cast.a.siret)
    session.commit()
    request_service.refuse_requests(session, f.actor(cast.staff), [request.id], "cpf")
    session.expire_all()
    assert session.get(AccountRequest, request.id).refusal_reason == REFUSAL_REASONS["cpf"]
    (email,) = outbox(session)
    assert (email.kind, email.recipient) == ("request_refused", "luke@example.org")
    assert REFUSAL_REASONS["cpf"] in email.body_text


def test_other_takes_the_details_as_the_reason(session, cast):
    request = filed(session, cast.a.siret)
    session.commit()
    request_service.refuse_requests(session, f.actor(cast.manager), [request.id], "other", "Personne ne vous connaît ici.")
    session.expire_all()
    assert session.get(AccountRequest, request.id).refusal_reason == "Personne ne vous connaît ici."
    assert "Personne ne vous connaît ici." in outbox(session)[0].body_text
    assert events(session, "request.refuse")[0].after == {"motif": "Personne ne vous connaît ici."}


@pytest.mark.parametrize("code, details, field", [("other", "", "details"), ("other", "   ", "details"), ("nope", "x", "reason")])
def test_a_refusal_without_a_usable_reason_is_refused(session, cast, code, details, field):
    request = filed(session, cast.a.siret)
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        request_service.refuse_requests(session, f.actor(cast.staff), [request.id], code, details)
    assert refused.value.field == field
    assert snapshot(session) == before


def test_a_refusal_touching_a_request_out_of_the_perimeter_changes_nothing(session, cast):
    ours, theirs = filed(session, cast.a.siret), filed(session, cast.c.siret, email="jyn@example.org", name="Erso")
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError, match="hors de votre périmètre"):
        request_service.refuse_requests(session, f.actor(cast.manager), [ours.id, theirs.id], "cpf")
    assert snapshot(session) == before
    assert (status_of(session, ours.id), status_of(session, theirs.id)) == ("pending", "pending")


def test_a_refusal_skips_requests_no_longer_pending(session, cast):
    pending = filed(session, cast.a.siret)
    approved = filed(session, cast.a.siret, email="biggs@example.org", name="Darklighter", status=RequestStatus.APPROVED)
    unconfirmed = filed(session, cast.a.siret, email=cast.holder.email, name="Solo",
                        kind=RequestKind.ATTACHMENT, status=RequestStatus.UNCONFIRMED)
    session.commit()
    outcome = request_service.refuse_requests(session, f.actor(cast.manager), [pending.id, approved.id, unconfirmed.id], "cpf")
    assert outcome.done == ["SKYWALKER Luke"]
    assert sorted(outcome.skipped) == [("DARKLIGHTER Luke", "déjà traitée"), ("SOLO Luke", "déjà traitée")]
    assert (status_of(session, approved.id), status_of(session, unconfirmed.id)) == ("approved", "unconfirmed")
    assert [e.recipient for e in outbox(session)] == ["luke@example.org"]
    assert [e.target_id for e in events(session, "request.refuse")] == [pending.id]
