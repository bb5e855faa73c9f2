"""Claims and request matching on proven identities, called directly: an unproven address is never claimed, a
claim names the account it was filed against and dies when that account's address changes, one claim waits
per account, and the answers to anyone but staff do not tell what holds an address (the work done is the
same: the emails rendered are counted)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from admin_app.services import ServiceError, claims
from admin_app.services import requests as request_service
from admin_app.services import users as user_service
from admin_app.services.common import EMAIL_TAKEN
from admin_app.services.users import GrantInput
from models import AccountRequest, AuditEvent, Grant, Habilitation, OutboundEmail, User, utcnow

from . import factories as f
from .factories import count

H = Habilitation
COLLEAGUE = "leia.organa@example.org"  # the colleague whose address is squatted, or who holds it


def form(siret: str, email: str, **over) -> dict:
    return {"civility": "Mme", "last_name": "Organa", "first_name": "Leia", "email": email, "phone": "0611223344",
            "job_title": "DRH", "company_name": "ONE", "siret": siret, **over}


def state(session) -> tuple:
    """Everything a refused or silent call must leave as it was."""
    session.expire_all()
    requests = sorted((r.id, r.status, r.kind, r.user_id, r.decided_by_id) for r in session.scalars(select(AccountRequest)))
    grants = sorted((g.user_id, g.establishment_id) for g in session.scalars(select(Grant)))
    return requests, grants, count(session, User), count(session, AuditEvent), count(session, OutboundEmail)



@pytest.fixture
def cast(session):
    """ONE has A and B; staff, a Gestionnaire on A, an account holder on B."""
    one = f.company(session, "ONE")
    a, b = f.establishment(session, one, "A"), f.establishment(session, one, "B")
    cast = SimpleNamespace(a=a, b=b, staff=f.user(session, staff=True), manager=f.user(session, [(a, f.MANAGER)]),
                           holder=f.user(session, [(b, [H.REPORTING])], name="Solo"))
    session.commit()
    return cast


def unproven(session, user: User, email: str) -> User:
    user.email, user.email_verified_at = email, None
    session.commit()
    return user


def moves(session, user: User, email: str) -> None:
    """The account's address changes (its new mailbox proved it)."""
    session.execute(update(User).where(User.id == user.id).values(email=email, email_verified_at=utcnow()))
    session.commit()
    session.expire_all()


# --- an unproven address is nobody's ----------------------------------------------------------------

def test_a_squatted_address_leaves_its_owner_s_request_an_opening(session, cast):
    squatter = unproven(session, f.user(session, [(cast.b, [H.REPORTING])], name="Squatter"), COLLEAGUE)
    request = request_service.submit_request(session, form(cast.a.siret, COLLEAGUE))
    session.expire_all()
    stored = session.get(AccountRequest, request.id)
    assert (stored.kind, stored.status, stored.user_id) == ("opening", "pending", None)
    assert [e.kind for e in session.scalars(select(OutboundEmail).where(OutboundEmail.recipient == COLLEAGUE))] == \
        ["request_received"]  # no "confirm your claim" to the address the squatter typed
    # Nor can anyone claim the squatter's account through that address, or confirm a claim on it.
    before = state(session)
    assert claims.file_on_behalf(session, f.actor(cast.manager), COLLEAGUE, cast.a.id) is None
    assert state(session) == before
    forged = AccountRequest(civility="M.", last_name="X", first_name="Y", email=COLLEAGUE, phone="+33611223344",
                            company_name="ONE", siret=cast.a.siret, kind="attachment", status="unconfirmed")
    session.add(forged)
    session.commit()
    assert claims.confirm(session, forged) is False
    assert session.get(AccountRequest, forged.id).status == "unconfirmed"
    # The opening cannot be approved over the squatter either: the address is still taken.
    outcome = request_service.approve_many(session, f.actor(cast.staff), [request.id])
    assert outcome.skipped == [("ORGANA Leia", "adresse email déjà utilisée par un compte")]
    assert squatter.grants[0].establishment_id == cast.b.id and len(squatter.grants) == 1


def test_a_holder_whose_address_is_unproven_cannot_file_for_oneself(session, cast):
    holder = unproven(session, cast.holder, "solo.new@example.org")
    before = state(session)
    with pytest.raises(ServiceError, match="Validez d'abord votre adresse email"):
        claims.file_for_oneself(session, holder, "ONE", cast.a.siret)
    assert state(session) == before


def test_staff_are_told_why_an_address_cannot_be_asked(session, cast):
    unproven(session, f.user(session, [(cast.b, [H.REPORTING])]), COLLEAGUE)
    with pytest.raises(ServiceError, match="pas encore validé son adresse email"):
        claims.file_on_behalf(session, f.actor(cast.staff), COLLEAGUE, cast.a.id)
    with pytest.raises(ServiceError, match="Aucun compte n'utilise cette adresse"):
        claims.file_on_behalf(session, f.actor(cast.staff), "personne@example.org", cast.a.id)
    cast.holder.active = False
    session.commit()
    with pytest.raises(ServiceError, match="désactivé"):
        claims.file_on_behalf(session, f.actor(cast.staff), cast.holder.email, cast.a.id)
    assert count(session, AccountRequest) == 0


# --- a claim names its account, and dies with its address -----------------------------------------------

def test_a_public_claim_names_the_account_and_dies_if_its_address_changes_before_approval(session, cast):
    claim = request_service.submit_request(session, form(cast.a.siret, cast.holder.email, last_name="Vador"))
    assert (claim.kind, claim.status, claim.user_id) == ("attachment", "unconfirmed", cast.holder.id)
    assert claims.confirm(session, claim) is True
    session.expire_all()
    assert (session.get(AccountRequest, claim.id).status, session.get(AccountRequest, claim.id).user_id) == \
        ("pending", cast.holder.id)
    assert request_service.requester_account(session, claim).id == cast.holder.id

    old_address = cast.holder.email
    moves(session, cast.holder, "han.ailleurs@example.org")
    # Someone else now proves the old address: the claim is not theirs either.
    newcomer = f.user(session, [(cast.b, [H.FUNDING])])
    moves(session, newcomer, old_address)
    claim = session.get(AccountRequest, claim.id)
    assert request_service.requester_account(session, claim) is None
    before = state(session)
    for target in (cast.holder, newcomer):
        target = session.get(User, target.id)
        with pytest.raises(ServiceError) as refused:
            request_service.approve_attachment(session, f.actor(cast.staff), claim, target, target.version, None,
                                               [GrantInput(cast.b.id, True), GrantInput(cast.a.id, False)])
        assert refused.value.message == claims.ACCOUNT_GONE
        assert state(session) == before
    outcome = request_service.approve_many(session, f.actor(cast.staff), [claim.id])
    assert outcome.skipped == [("VADOR Leia", "le compte à rattacher n'existe plus, a changé d'adresse email ou ne l'a pas validée")]
    assert state(session) == before


def test_a_claim_whose_account_changed_address_before_confirming_cannot_be_confirmed(session, cast):
    claim = request_service.submit_request(session, form(cast.a.siret, cast.holder.email))
    old_address = cast.holder.email
    moves(session, cast.holder, "han.ailleurs@example.org")
    newcomer = f.user(session, [(cast.b, [H.FUNDING])])
    moves(session, newcomer, old_address)  # the mailbox the link went to now proves another account
    claim = session.get(AccountRequest, claim.id)
    assert claims.confirm(session, claim) is False
    session.expire_all()
    assert (session.get(AccountRequest, claim.id).status, session.get(AccountRequest, claim.id).user_id) == \
        ("unconfirmed", cast.holder.id)


def test_the_claim_existing_twin_names_the_account_and_dies_the_same_way(session, cast):
    claim = claims.file_on_behalf(session, f.actor(cast.manager), cast.holder.email, cast.a.id)
    assert (claim.status, claim.user_id) == ("unconfirmed", cast.holder.id)
    assert claims.confirm(session, claim) is True
    holder = session.get(User, cast.holder.id)
    moves(session, holder, "han.ailleurs@example.org")
    before = state(session)
    holder = session.get(User, cast.holder.id)
    with pytest.raises(ServiceError, match="changé d'adresse email"):
        request_service.approve_attachment(session, f.actor(cast.manager), session.get(AccountRequest, claim.id), holder,
                                           holder.version, None, [GrantInput(cast.a.id, False)])
    assert state(session) == before


def test_a_claim_filed_logged_in_names_the_holder_and_is_approved_on_that_account(session, cast):
    claim = claims.file_for_oneself(session, cast.holder, "ONE", cast.a.siret)
    assert (claim.status, claim.user_id) == ("pending", cast.holder.id)
    holder = session.get(User, cast.holder.id)
    request_service.approve_attachment(session, f.actor(cast.manager), claim, holder, holder.version, None,
                                       [GrantInput(cast.a.id, False)])
    session.expire_all()
    assert {g.establishment_id for g in session.get(User, cast.holder.id).grants} == {cast.a.id, cast.b.id}
    stored = session.get(AccountRequest, claim.id)
    assert (stored.status, stored.user_id) == ("approved", cast.holder.id)


def test_an_attachment_is_never_approved_as_an_opening(session, cast):
    claim = claims.file_for_oneself(session, cast.holder, "ONE", cast.a.siret)
    before = state(session)
    with pytest.raises(ServiceError, match="ne crée pas de compte"):
        request_service.approve_opening(session, f.actor(cast.staff), claim, form(cast.a.siret, "autre@example.org"),
                                        [GrantInput(cast.a.id, True)])
    assert state(session) == before


# --- one claim waits per account ------------------------------------------------------------------------

def test_an_account_has_at_most_one_claim_waiting_for_its_confirmation(session, cast, rendered):
    first = request_service.submit_request(session, form(cast.a.siret, cast.holder.email))
    before, work = state(session), dict(rendered)
    third = f.establishment(session, cast.a.company, "A3")
    session.commit()
    before = state(session)
    assert request_service.submit_request(session, form(third.siret, cast.holder.email)) is None
    assert claims.file_on_behalf(session, f.actor(cast.manager), cast.holder.email, cast.a.id) is None
    assert state(session) == before  # no new request, no new email, no history entry
    assert rendered["confirm_attachment"] == 3 * work["confirm_attachment"]  # each did the same work, then dropped it
    claims.confirm(session, first)
    # Once it is confirmed, the holder may be asked again (once).
    again = request_service.submit_request(session, form(third.siret, cast.holder.email))
    assert (again.status, again.user_id) == ("unconfirmed", cast.holder.id)
    assert request_service.submit_request(session, form(cast.b.siret, cast.holder.email)) is None
    assert count(session, AccountRequest) == 2


# --- answers that don't tell ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["no account", "unproven", "inactive", "staff", "already attached", "claim waiting",
                                  "same claim pending"])
def test_a_delegated_administrator_learns_nothing_from_asking_a_holder(session, cast, rendered, case):
    target = {"staff": cast.staff, "already attached": cast.manager}.get(case, cast.holder)
    email = "personne@example.org" if case == "no account" else target.email
    if case == "unproven":
        unproven(session, cast.holder, email := COLLEAGUE)
    elif case == "inactive":
        cast.holder.active = False
        session.commit()
    elif case == "claim waiting":
        request_service.submit_request(session, form(cast.b.siret, email))
    elif case == "same claim pending":
        claims.file_for_oneself(session, cast.holder, "ONE", cast.a.siret)
    before = state(session)
    rendered.clear()
    assert claims.file_on_behalf(session, f.actor(cast.manager), email, cast.a.id) is None
    assert state(session) == before
    assert rendered == Counter({"confirm_attachment": 1})  # as when the holder is asked (below)


def test_asking_a_holder_renders_the_same_one_email(session, cast, rendered):
    claim = claims.file_on_behalf(session, f.actor(cast.manager), cast.holder.email, cast.a.id)
    assert claim is not None and rendered == Counter({"confirm_attachment": 1})
    assert [e.recipient for e in session.scalars(select(OutboundEmail))] == [cast.holder.email]


@pytest.mark.parametrize("existing", ["opening", "claim"])
def test_a_duplicate_public_request_does_the_same_work_and_keeps_nothing(session, cast, rendered, existing):
    email = "luke@example.org" if existing == "opening" else cast.holder.email
    request_service.submit_request(session, form(cast.a.siret, email))
    first = Counter(rendered)
    before = state(session)
    rendered.clear()
    assert request_service.submit_request(session, form(cast.a.siret, email.upper())) is None
    assert state(session) == before
    assert rendered == first


def test_a_delegated_creator_reads_one_message_whoever_holds_the_address(session, cast):
    unproven(session, f.user(session, [(cast.b, [H.REPORTING])]), COLLEAGUE)
    messages = set()
    for email in (cast.staff.email, cast.holder.email, COLLEAGUE):
        before = state(session)
        with pytest.raises(ServiceError) as refused:
            user_service.create_user(session, f.actor(cast.manager), form(cast.a.siret, email), [GrantInput(cast.a.id, True)])
        messages.add((refused.value.message, refused.value.field))
        assert state(session) == before
    assert messages == {(user_service.EMAIL_UNAVAILABLE, "email")}
    with pytest.raises(ServiceError) as refused:  # staff keep the precise words
        user_service.create_user(session, f.actor(cast.staff), form(cast.a.siret, cast.staff.email))
    assert refused.value.message == EMAIL_TAKEN


def test_the_one_waiting_claim_is_the_account_s_even_once_its_address_moved(session, cast):
    """The waiting claim names the account: after its address changed, a request to the new one is not a second."""
    request_service.submit_request(session, form(cast.a.siret, cast.holder.email))
    moves(session, cast.holder, "solo.ailleurs@example.org")
    third = f.establishment(session, cast.a.company, "A3")
    session.commit()
    assert request_service.submit_request(session, form(third.siret, "solo.ailleurs@example.org")) is None
    assert count(session, AccountRequest) == 1


def test_a_decided_request_does_not_stand_in_the_way_of_a_new_one(session, cast):
    """Only a request still open (pending, or waiting for its holder) makes another one a duplicate."""
    first = request_service.submit_request(session, form(cast.a.siret, "new.comer@example.org"))
    assert request_service.submit_request(session, form(cast.a.siret, "new.comer@example.org")) is None
    request_service.refuse_requests(session, f.actor(cast.staff), [first.id], "duplicate")
    again = request_service.submit_request(session, form(cast.a.siret, "new.comer@example.org"))
    assert again is not None and again.id != first.id and again.status == "pending"
    assert count(session, AccountRequest) == 2
