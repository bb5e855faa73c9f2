"""Refusing account requests as the deciding person and the requester meet it: the French message and field
of each refusal of the form, the free text's 2000-character limit and its line breaks, the email the
requester receives and the history entry."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select
from stdnum import luhn

from admin_app.authority import REFUSED_STAFF
from admin_app.services import ServiceError
from admin_app.services import requests as request_service
from admin_app.services import users as user_service
from admin_app.services.requests import REFUSAL_REASONS
from admin_app.services.users import GrantInput
from models import AccountRequest, AuditEvent, Habilitation, OutboundEmail, RequestKind, RequestStatus, User

from . import factories as f


@pytest.fixture
def cast(session):
    one = f.company(session, "ONE")
    a = f.establishment(session, one, "A")
    staff = f.user(session, staff=True)
    request = AccountRequest(civility="M.", last_name="Skywalker", first_name="Luke", email="luke@example.org",
                             phone="+33611223344", company_name="ONE", siret=a.siret, kind=RequestKind.OPENING.value,
                             status=RequestStatus.PENDING.value)
    session.add(request)
    session.commit()
    return SimpleNamespace(a=a, staff=f.actor(staff), request=request)


def refuse(session, cast, code: str, details: str = ""):
    return request_service.refuse_requests(session, cast.staff, [cast.request.id], code, details)


def refused(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value


def nothing_changed(session, cast) -> bool:
    session.expire_all()
    stored = session.get(AccountRequest, cast.request.id)
    return (stored.status == "pending" and stored.refusal_reason is None
            and session.scalars(select(AuditEvent)).all() == [] and session.scalars(select(OutboundEmail)).all() == [])


def stored_reason(session, cast) -> str:
    session.expire_all()
    return session.get(AccountRequest, cast.request.id).refusal_reason


@pytest.mark.parametrize("code", ["", "autre", "Other"])
def test_an_unknown_reason_asks_to_choose_one(session, cast, code):
    error = refused(lambda: refuse(session, cast, code, "x"))
    assert (error.message, error.field) == ("Choisissez un motif de refus.", "reason")
    assert nothing_changed(session, cast)


@pytest.mark.parametrize("details", ["", "  \n  "])
def test_other_without_details_asks_for_them(session, cast, details):
    error = refused(lambda: refuse(session, cast, "other", details))
    assert (error.message, error.field) == ("Précisez le motif du refus.", "details")
    assert nothing_changed(session, cast)


def test_the_details_may_have_2000_characters_not_2001(session, cast):
    error = refused(lambda: refuse(session, cast, "other", "m" * 2001))
    assert (error.message, error.field) == ("Le motif ne doit pas dépasser 2000 caractères.", "details")
    assert nothing_changed(session, cast)
    refuse(session, cast, "other", "m" * 2000)
    assert stored_reason(session, cast) == "m" * 2000


def test_the_details_refuse_invisible_characters_on_their_field(session, cast):
    error = refused(lambda: refuse(session, cast, "other", "Motif\u202eesrever"))
    assert (error.message, error.field) == ("Le motif contient des caractères invisibles ou de contrôle non autorisés.", "details")


def test_the_details_keep_their_line_breaks(session, cast):
    refuse(session, cast, "other", "Première ligne.\n  Deuxième   ligne.\n")
    assert stored_reason(session, cast) == "Première ligne.\nDeuxième ligne."
    (email,) = session.scalars(select(OutboundEmail)).all()
    assert "Motif : Première ligne.\nDeuxième ligne." in email.body_text


def test_a_preset_reason_and_its_details_are_kept_on_two_lines(session, cast):
    refuse(session, cast, "not_client", "Voir avec le siège.")
    assert stored_reason(session, cast) == REFUSAL_REASONS["not_client"] + "\nVoir avec le siège."


def test_the_requester_is_told_by_email_with_their_name_establishment_and_reason(session, cast):
    refuse(session, cast, "cpf")
    (email,) = session.scalars(select(OutboundEmail)).all()
    assert (email.recipient, email.kind, email.subject) == (
        "luke@example.org", "request_refused", "Votre demande de compte n'a pas été acceptée")
    # The address was typed by whoever filed the request: what they typed is quoted, the establishment named as recorded.
    assert email.body_text.startswith("Bonjour,\n")
    assert f"pour l'établissement {cast.a.name} – {cast.a.company.name} (SIRET {cast.a.siret[:9]} {cast.a.siret[9:]}) n'a pas été acceptée" in email.body_text
    assert "> Nom : « M. SKYWALKER Luke »" in email.body_text
    assert f"Motif : {REFUSAL_REASONS['cpf']}" in email.body_text


def test_the_refusal_is_written_in_the_history_against_the_request(session, cast):
    refuse(session, cast, "duplicate")
    session.expire_all()
    (row,) = session.scalars(select(AuditEvent)).all()
    assert (row.action, row.target_type, row.target_id, row.target_label) == (
        "request.refuse", "request", cast.request.id, f"SKYWALKER Luke <luke@example.org> – {cast.a.siret}")
    assert (row.before, row.after) == (None, {"motif": REFUSAL_REASONS["duplicate"]})


# --- approving --------------------------------------------------------------------------------------

def a_claim(session, siret: str, email: str) -> AccountRequest:
    request = AccountRequest(civility="M.", last_name="Solo", first_name="Han", email=email, phone="+33611223344",
                             company_name="ONE", siret=siret, kind=RequestKind.ATTACHMENT.value,
                             status=RequestStatus.PENDING.value,
                             user_id=session.scalar(select(User.id).where(User.email == email)))  # as confirmed
    session.add(request)
    session.commit()
    return request


def identity(user, **over) -> dict:
    return {name: getattr(user, name) for name in user_service.PERSONAL_FIELDS} | over


def test_an_approved_opening_is_written_against_the_request_naming_the_new_user(session, cast):
    data = {"civility": "M.", "last_name": "Skywalker", "first_name": "Luke", "email": "luke@example.org",
            "phone": "06 11 22 33 44", "job_title": ""}
    user = request_service.approve_opening(session, cast.staff, cast.request, data, [GrantInput(cast.a.id, True)])
    session.expire_all()
    (row,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "request.approve")).all()
    assert (row.target_type, row.target_id, row.target_label, row.after) == (
        "request", cast.request.id, f"SKYWALKER Luke <luke@example.org> – {cast.a.siret}",
        {"user": "SKYWALKER Luke <luke@example.org>"})
    assert user_service.user_label(user) == "SKYWALKER Luke <luke@example.org>"


def test_approving_a_claim_saves_the_identity_typed_on_the_edit_page(session, cast):
    holder = f.user(session, [(f.establishment(session), [Habilitation.REPORTING])], name="Solo")
    session.commit()
    request = a_claim(session, cast.a.siret, holder.email)
    rows = [GrantInput(holder.grants[0].establishment_id, True, {Habilitation.REPORTING}), GrantInput(cast.a.id, False)]
    request_service.approve_attachment(session, cast.staff, request, holder, holder.version,
                                       identity(holder, job_title="Pilote"), rows)
    session.expire_all()
    assert session.get(User, holder.id).job_title == "Pilote"
    (row,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "request.approve")).all()
    assert (row.target_type, row.target_id, row.target_label) == (
        "request", request.id, f"SOLO Han <{holder.email}> – {cast.a.siret}")  # the request as it was filed


def test_a_claim_for_another_account_is_refused_in_those_words(session, cast):
    holder, stranger = f.user(session), f.user(session)
    session.commit()
    request = a_claim(session, cast.a.siret, holder.email)
    error = refused(lambda: request_service.approve_attachment(session, cast.staff, request, stranger, stranger.version, None,
                                                               [GrantInput(cast.a.id, True)]))
    assert error.message == "Cette demande concerne un autre compte."


def test_an_administrator_may_not_attach_a_staff_account_and_is_told_why(session, cast):
    manager = f.user(session, [(cast.a, f.MANAGER)])
    staff_holder = f.user(session, staff=True)
    session.commit()
    request = a_claim(session, cast.a.siret, staff_holder.email)
    error = refused(lambda: request_service.approve_attachment(session, f.actor(manager), request, staff_holder,
                                                               staff_holder.version, None, [GrantInput(cast.a.id, True)]))
    assert error.message == REFUSED_STAFF.reason
    session.expire_all()
    assert session.get(AccountRequest, request.id).status == "pending"


def test_staff_refuse_a_request_whose_siret_matches_no_establishment(session, cast):
    siret = cast.a.siret[:9] + "9999" + luhn.calc_check_digit(cast.a.siret[:9] + "9999")  # no such establishment
    request = AccountRequest(civility="Mme", last_name="Erso", first_name="Jyn", email="jyn@example.org",
                             phone="+33611223344", company_name="ONE", siret=siret, kind=RequestKind.OPENING.value,
                             status=RequestStatus.PENDING.value)
    session.add(request)
    session.commit()
    outcome = request_service.refuse_requests(session, cast.staff, [request.id], "not_client")
    assert outcome.done == ["ERSO Jyn"]
    session.expire_all()
    assert session.get(AccountRequest, request.id).status == "refused"


def test_a_claim_approved_as_an_opening_is_refused_in_those_words_and_creates_nobody(session, cast):
    holder = f.user(session)
    session.commit()
    request = a_claim(session, cast.a.siret, holder.email)
    users_before = f.count(session, User)
    data = {"civility": "M.", "last_name": "Solo", "first_name": "Han", "email": "han@example.org",
            "phone": "06 11 22 33 44", "job_title": ""}
    error = refused(lambda: request_service.approve_opening(session, cast.staff, request, data, [GrantInput(cast.a.id, True)]))
    assert error.message == "Cette demande est un rattachement à un compte existant : elle ne crée pas de compte."
    session.expire_all()
    assert session.get(AccountRequest, request.id).status == "pending"
    assert f.count(session, User) == users_before
