"""Two ways forward the guide's people need: activate with a password link, and ask an existing account's
holder to join one's establishment (instead of a dead end on "email déjà utilisée")."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.services import ServiceError, claims
from admin_app.services import bulk as bulk_service
from models import AccountRequest, AuditEvent, Habilitation, OperationItem, OutboundEmail, RequestStatus, User

from . import factories as f


def outbox(session, recipient: str) -> list[tuple[str, str]]:
    return [(e.kind, e.subject) for e in session.scalars(select(OutboundEmail).where(OutboundEmail.recipient == recipient)
                                                          .order_by(OutboundEmail.id))]


def test_activate_and_send_links_sends_what_each_state_calls_for(session):
    a = f.establishment(session)
    manager = f.user(session, [(a, f.MANAGER)])
    forgot = f.user(session, [(a, [Habilitation.FUNDING])], active=False, password_hash="x")
    never = f.user(session, [(a, [Habilitation.FUNDING])], active=False)
    never.email_verified_at = None
    already = f.user(session, [(a, [Habilitation.FUNDING])], password_hash="x")
    session.commit()
    result = bulk_service.activate_and_send_links(session, f.actor(manager), [forgot.id, never.id, already.id])
    assert (result.changed, result.unchanged, result.emails) == (2, 1, 3)
    session.expire_all()
    assert all(session.get(User, u.id).active for u in (forgot, never, already))
    assert outbox(session, forgot.email) == [("set_password", "Choisissez un nouveau mot de passe")]
    assert outbox(session, never.email) == [("verify_email", "Validez votre adresse email")]
    body = session.scalar(select(OutboundEmail.body_text).where(OutboundEmail.recipient == never.email))
    assert "vous attend" in body and "vient d'être créé" not in body  # an old account is not "just created"
    # One operation, one audit entry; each user's link is on its item (their own history shows it).
    (entry,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.activate_links")).all()
    assert (entry.target_type, entry.target_id) == ("operation", result.operation_id)
    sent_to = session.execute(select(OperationItem.user_id, OperationItem.email_kind)
                              .where(OperationItem.operation_id == result.operation_id)).all()
    assert sorted(sent_to) == sorted([(forgot.id, "set_password"), (never.id, "verify_email"), (already.id, "set_password")])


def test_activate_and_send_links_is_governed_like_activation(session):
    a, c = f.establishment(session), f.establishment(session)
    user_admin = f.user(session, [(a, f.USER_ADMIN)])
    manager = f.user(session, [(a, f.MANAGER)], active=False)
    session.commit()
    with pytest.raises(ServiceError):
        bulk_service.activate_and_send_links(session, f.actor(user_admin), [manager.id])
    session.expire_all()
    assert not session.get(User, manager.id).active and outbox(session, manager.email) == []
    assert c  # another establishment exists: nothing of it is touched either


def test_an_administrator_asks_an_existing_account_to_join(session):
    a, elsewhere = f.establishment(session, name="A"), f.establishment(session, name="Ailleurs")
    luke = f.user(session, [(a, f.MANAGER)])
    holder = f.user(session, [(elsewhere, [Habilitation.PAYMENTS])])
    session.commit()
    request = claims.file_on_behalf(session, f.actor(luke), holder.email.upper(), a.id)
    session.expire_all()
    stored = session.get(AccountRequest, request.id)
    assert (stored.status, stored.kind, stored.siret, stored.email) == (RequestStatus.UNCONFIRMED.value, "attachment", a.siret,
                                                                       holder.email)
    (kind, subject), = outbox(session, holder.email)
    body = session.scalar(select(OutboundEmail.body_text).where(OutboundEmail.recipient == holder.email))
    assert kind == "confirm_attachment" and luke.email in body and "propose de rattacher" in body
    assert stored.user_id == holder.id  # the account it was filed against
    # asked again: nothing new, and nothing said (tests/services/test_claims_identity.py)
    assert claims.file_on_behalf(session, f.actor(luke), holder.email, a.id) is None
    assert len(outbox(session, holder.email)) == 1
    assert claims.confirm(session, stored) and session.get(AccountRequest, request.id).status == RequestStatus.PENDING.value


@pytest.mark.parametrize("case", ["elsewhere", "staff holder", "no account", "already there", "not an administrator"])
def test_claims_on_behalf_that_are_refused(session, case):
    """Refused, or (to a delegated administrator, about the address) dropped without a word."""
    a, b = f.establishment(session), f.establishment(session)
    luke = f.user(session, [(a, f.MANAGER)])
    target = f.user(session, [(a if case == "already there" else b, [Habilitation.FUNDING])], staff=case == "staff holder")
    worker = f.user(session, [(a, [Habilitation.FUNDING])])
    session.commit()
    actor = f.actor(worker if case == "not an administrator" else luke)
    email = "nobody@example.org" if case == "no account" else target.email
    where = b.id if case == "elsewhere" else a.id
    if case in ("elsewhere", "not an administrator"):  # about the actor's own perimeter: said
        with pytest.raises(ServiceError):
            claims.file_on_behalf(session, actor, email, where)
    else:
        assert claims.file_on_behalf(session, actor, email, where) is None
    assert session.scalar(select(AccountRequest.id)) is None
    assert session.scalar(select(OutboundEmail.id).where(OutboundEmail.kind == "confirm_attachment")) is None
