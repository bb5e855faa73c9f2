"""Who is told that an account request arrived: the requested establishment's administrators, else staff."""

from __future__ import annotations

from sqlalchemy import select

from admin_app.services import claims
from admin_app.services import requests as request_service
from models import AuditEvent, Habilitation, OutboundEmail, RequestStatus

from . import factories as f


def form(siret: str, email: str = "padme@example.org") -> dict:
    return {"civility": "Mme", "last_name": "Amidala", "first_name": "Padmé", "email": email, "phone": "0611223344",
            "job_title": "DRH", "company_name": "ONE", "siret": siret}


def told(session) -> list[str]:
    return sorted(session.scalars(select(OutboundEmail.recipient).where(OutboundEmail.kind == "request_notification")))


def test_the_establishments_administrators_are_told_and_nobody_else(session):
    a = f.establishment(session, name="A")
    other = f.establishment(session, a.company, name="B")
    manager, user_admin = f.user(session, [(a, f.MANAGER)]), f.user(session, [(a, f.USER_ADMIN)])
    quiet = f.user(session, [(a, f.MANAGER)])
    quiet.notify_requests = False
    f.user(session, [(a, [Habilitation.FUNDING])])  # works there, decides nothing
    f.user(session, [(other, f.MANAGER)])  # administers another establishment of the company
    f.user(session, [(a, f.MANAGER)], active=False)
    f.user(session, staff=True)  # staff see every request, but someone there decides this one
    session.commit()
    request = request_service.submit_request(session, form(a.siret))
    assert told(session) == sorted([manager.email, user_admin.email])
    body = session.scalar(select(OutboundEmail.body_text).where(OutboundEmail.recipient == manager.email))
    assert "AMIDALA Padmé" in body and "/admin/account-requests/" in body and "Ouverture" in body
    entry = session.scalar(select(AuditEvent).where(AuditEvent.action == "request.notify"))
    assert entry.target_id == request.id and sorted(entry.after["destinataires"]) == told(session)


def test_staff_are_told_when_nobody_administers_the_establishment(session):
    nobody_there = f.establishment(session)
    staff, f_staff_quiet = f.user(session, staff=True), f.user(session, staff=True)
    f_staff_quiet.notify_requests = False
    f.user(session, staff=True, active=False)
    session.commit()
    request_service.submit_request(session, form(nobody_there.siret))
    assert told(session) == [staff.email]
    request_service.submit_request(session, form("73282932000074", email="unknown.siret@example.org"))  # no such SIRET
    # Within minutes of the first, while it waits in the outbox: the same email lists both (test_email_limits.py).
    assert told(session) == [staff.email]
    assert session.scalar(select(OutboundEmail.subject).where(OutboundEmail.kind == "request_notification")) \
        == "2 nouvelles demandes de création de compte"


def test_a_claim_is_announced_only_once_its_holder_confirms_it(session):
    a = f.establishment(session)
    manager = f.user(session, [(a, f.MANAGER)])
    holder = f.user(session, [(f.establishment(session), f.NONE)])
    session.commit()
    claim = request_service.submit_request(session, form(a.siret, email=holder.email))
    assert claim.status == RequestStatus.UNCONFIRMED.value and told(session) == []
    assert claims.confirm(session, claim)
    assert told(session) == [manager.email]
    claims.file_for_oneself(session, holder, "ONE", f.establishment(session, a.company).siret)  # nobody there: staff
    assert told(session) == [manager.email]  # no staff in this cast: nobody else is told
