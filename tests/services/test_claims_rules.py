"""Claims on existing accounts as their holder meets them: the form's French messages and fields, the
request written from the account, the emails (received, confirm) and the history entries."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import current_app
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from admin_app.services import ServiceError, claims
from models import AccountRequest, AuditEvent, Habilitation, OutboundEmail, RequestKind, RequestStatus

from . import factories as f


@pytest.fixture
def cast(session):
    """ONE has A (where the holder is) and B, C (where they are not)."""
    one = f.company(session, "ONE")
    a, b, c = (f.establishment(session, one, name) for name in ("A", "B", "C"))
    holder = f.user(session, [(a, [Habilitation.REPORTING])], name="Solo")
    holder.job_title = "Contrebandier"
    session.commit()
    return SimpleNamespace(a=a, b=b, c=c, holder=holder)


def refused(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value


def written(session, model, *where):
    session.expire_all()
    return list(session.scalars(select(model).where(*where).order_by(model.id)))


def a_request(session, siret: str, email: str, status: RequestStatus, *, request_id: int | None = None) -> AccountRequest:
    request = AccountRequest(civility="M.", last_name="Solo", first_name="Han", email=email, phone="+33611223344",
                             company_name="ONE", siret=siret, kind=RequestKind.ATTACHMENT.value, status=status.value)
    if request_id is not None:
        request.id = request_id
    session.add(request)
    session.commit()
    return request


# --- file_for_oneself -------------------------------------------------------------------------------

def test_the_company_name_may_have_200_characters_not_201(session, cast):
    error = refused(lambda: claims.file_for_oneself(session, cast.holder, "N" * 201, cast.b.siret))
    assert (error.message, error.field) == ("La raison sociale ne doit pas dépasser 200 caractères.", "company_name")
    assert written(session, AccountRequest) == []
    assert claims.file_for_oneself(session, cast.holder, "N" * 200, cast.b.siret).company_name == "N" * 200


def test_a_missing_company_name_says_it_is_required(session, cast):
    error = refused(lambda: claims.file_for_oneself(session, cast.holder, "", cast.b.siret))
    assert (error.message, error.field) == ("La raison sociale est obligatoire.", "company_name")


@pytest.mark.parametrize("siret", ["", None])
def test_a_missing_siret_asks_for_its_fourteen_digits(session, cast, siret):
    error = refused(lambda: claims.file_for_oneself(session, cast.holder, "ONE", siret))
    assert (error.message, error.field) == ("Le SIRET doit comporter 14 chiffres.", "siret")


def test_an_unproven_address_is_told_in_those_words_and_files_nothing(session, cast):
    cast.holder.email_verified_at = None
    session.commit()
    error = refused(lambda: claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret))
    assert error.message == "Validez d'abord votre adresse email (le lien vous a été envoyé), puis refaites votre demande."
    assert (written(session, AccountRequest), written(session, OutboundEmail)) == ([], [])


def test_a_request_of_ones_own_still_waiting_is_refused_with_its_message(session, cast):
    a_request(session, cast.b.siret, cast.holder.email, RequestStatus.UNCONFIRMED)
    error = refused(lambda: claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret))
    assert (error.message, error.field) == ("Une demande pour cet établissement est déjà en cours de traitement.", "siret")


def test_someone_else_s_request_for_the_establishment_does_not_block_one_s_own(session, cast):
    a_request(session, cast.b.siret, "quelquun@example.org", RequestStatus.PENDING)
    request = claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret)
    assert request.status == "pending"


@pytest.mark.parametrize("status", [RequestStatus.REFUSED, RequestStatus.APPROVED])
def test_a_decided_request_of_one_s_own_does_not_block_a_new_one(session, cast, status):
    a_request(session, cast.b.siret, cast.holder.email, status)
    assert claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret).status == "pending"


def test_the_request_carries_the_account_s_identity_and_job_title(session, cast):
    request = claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret)
    (stored,) = written(session, AccountRequest, AccountRequest.id == request.id)
    holder = cast.holder
    assert (stored.civility, stored.last_name, stored.first_name, stored.email, stored.phone, stored.job_title) == (
        holder.civility, holder.last_name, holder.first_name, holder.email, holder.phone, "Contrebandier")
    assert (stored.kind, stored.status) == ("attachment", "pending")


def test_the_holder_is_told_their_request_was_received(session, cast):
    claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret)
    (email,) = written(session, OutboundEmail, OutboundEmail.recipient == cast.holder.email)
    assert (email.kind, email.subject) == ("request_received", "Demande reçue")
    holder = cast.holder
    # Names and the company as typed are quoted as the requester's, never the product's words (the public form's
    # visitor types the address this goes to): the establishment is named as recorded.
    assert email.body_text.startswith("Bonjour,\n")
    assert f"pour l'établissement {cast.b.name} – {cast.b.company.name} (SIRET {cast.b.siret[:9]} {cast.b.siret[9:]})" in email.body_text
    assert f"> Nom : « {holder.civility} {holder.last_name} {holder.first_name} »" in email.body_text
    assert "> Raison sociale : « ONE »" in email.body_text


def test_the_request_is_written_in_the_history_against_the_request(session, cast):
    request = claims.file_for_oneself(session, cast.holder, "ONE", cast.b.siret, ip="198.51.100.7")
    (row,) = written(session, AuditEvent, AuditEvent.action == "request.create")
    holder = cast.holder
    assert (row.target_type, row.target_id, row.target_label) == (
        "request", request.id, f"{holder.last_name} {holder.first_name} <{holder.email}> – {cast.b.siret}")


# --- the confirmation email and its link ------------------------------------------------------------

def test_the_confirmation_email_says_what_is_asked_and_how_long_the_link_lasts(session, cast):
    request = a_request(session, cast.b.siret, cast.holder.email, RequestStatus.UNCONFIRMED)
    claims.enqueue_confirmation(session, request)
    session.commit()
    (email,) = written(session, OutboundEmail)
    assert (email.recipient, email.kind, email.subject) == (
        cast.holder.email, "confirm_attachment", "Confirmez votre demande de rattachement")
    # The establishment by its recorded name; the company name the requester typed, quoted as theirs.
    assert (f"Une demande de rattachement de votre compte Mon compte DEFI ({cast.holder.email}) à l'établissement "
            f"{cast.b.name} – {cast.b.company.name} (SIRET {cast.b.siret[:9]} {cast.b.siret[9:]}) vient d'être envoyée") \
        in email.body_text
    assert "> Raison sociale : « ONE »" in email.body_text
    hours = int(current_app.config["EMAIL_LINK_MAX_AGE"].total_seconds()) // 3600
    assert f"(valable {hours} heures)" in email.body_text


def test_a_confirmation_asked_by_an_administrator_names_them(session, cast):
    request = a_request(session, cast.b.siret, cast.holder.email, RequestStatus.UNCONFIRMED)
    claims.enqueue_confirmation(session, request, asked_by="Leia ORGANA")
    session.commit()
    (email,) = written(session, OutboundEmail)
    assert f"Leia ORGANA, qui gère les utilisateurs de l'établissement {cast.b.name} – {cast.b.company.name}" in email.body_text
    assert "vient d'être envoyée depuis le formulaire" not in email.body_text


@pytest.mark.parametrize("salt", ["default", None])
def test_a_link_signed_for_no_particular_purpose_leads_nowhere(session, cast, salt):
    request = a_request(session, cast.b.siret, cast.holder.email, RequestStatus.UNCONFIRMED)
    signer = (URLSafeTimedSerializer(current_app.config["SECRET_KEY"]) if salt == "default"
              else URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=None))
    unsalted = signer.dumps([request.id, request.email])
    assert claims.request_of_token(session, unsalted, current_app.config["EMAIL_LINK_MAX_AGE"]) is None


def test_a_link_works_for_a_request_with_a_large_id(session, cast):
    request = a_request(session, cast.b.siret, cast.holder.email, RequestStatus.UNCONFIRMED, request_id=123_456)
    link = claims.confirmation_link(request)
    found = claims.request_of_token(session, link.rsplit("/", 1)[1], current_app.config["EMAIL_LINK_MAX_AGE"])
    assert found is not None and found.id == 123_456


# --- confirm ----------------------------------------------------------------------------------------

def test_confirming_one_claim_leaves_the_holder_s_other_claims_waiting(session, cast):
    first = a_request(session, cast.b.siret, cast.holder.email, RequestStatus.UNCONFIRMED)
    second = a_request(session, cast.c.siret, cast.holder.email, RequestStatus.UNCONFIRMED)
    assert claims.confirm(session, first) is True
    session.expire_all()
    assert (session.get(AccountRequest, first.id).status, session.get(AccountRequest, second.id).status) == (
        "pending", "unconfirmed")


def test_a_confirmation_is_written_in_the_history_by_the_holder(session, cast):
    request = a_request(session, cast.b.siret, cast.holder.email, RequestStatus.UNCONFIRMED)
    claims.confirm(session, request)
    (row,) = written(session, AuditEvent, AuditEvent.action == "request.confirm")
    holder = cast.holder
    assert (row.actor_id, row.target_type, row.target_id, row.target_label) == (
        holder.id, "request", request.id, f"SOLO Han <{holder.email}> – {cast.b.siret}")


# --- file_on_behalf -----------------------------------------------------------------------------------

def test_a_claim_on_behalf_carries_the_account_s_identity_and_is_written_in_the_history_by_the_asker(session, cast):
    luke = f.user(session, [(cast.b, f.MANAGER)], name="Skywalker")
    session.commit()
    request = claims.file_on_behalf(session, f.actor(luke), cast.holder.email, cast.b.id)
    (stored,) = written(session, AccountRequest)
    holder = cast.holder
    assert (stored.id, stored.last_name, stored.first_name, stored.job_title, stored.company_name, stored.user_id) == (
        request.id, holder.last_name, holder.first_name, "Contrebandier", "ONE", holder.id)
    (row,) = written(session, AuditEvent, AuditEvent.action == "request.create")
    asker = f"{luke.full_name} <{luke.email}>"
    assert (row.actor_id, row.target_type, row.target_id, row.target_label, row.before, row.after) == (
        luke.id, "request", request.id, f"SOLO {holder.first_name} <{holder.email}> – {cast.b.siret}", None,
        {"kind": "attachment", "siret": cast.b.siret, "asked_by": asker})
