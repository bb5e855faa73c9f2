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


def test_a_notification_joins_only_one_of_its_kind_and_greets_its_reader(session):
    """Grouped: the waiting notification lists both requests in the order they were filed, under its reader's
    name; another email waiting for the same person (a link, say) is never rewritten into one."""
    a = f.establishment(session)
    manager = f.user(session, [(a, f.MANAGER)])
    session.commit()
    other = OutboundEmail(recipient=manager.email, subject="Validez votre adresse email", kind="verify_email",
                          body_text="le lien", body_html="")
    session.add(other)
    session.commit()
    request_service.submit_request(session, form(a.siret, email="first@example.org"))
    request_service.submit_request(session, form(a.siret, email="second@example.org"))
    (grouped,) = session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "request_notification")).all()
    assert grouped.subject == "2 nouvelles demandes de création de compte"
    assert grouped.body_text.startswith(f"Bonjour {manager.first_name} {manager.last_name},")
    assert grouped.body_text.index("first@example.org") < grouped.body_text.index("second@example.org")
    session.refresh(other)
    assert (other.kind, other.subject, other.body_text) == ("verify_email", "Validez votre adresse email", "le lien")


def test_a_waiting_notification_that_lists_no_request_is_left_as_it_is(session):
    """One written before notifications listed their requests cannot be re-rendered: the new request gets its own."""
    a = f.establishment(session)
    manager = f.user(session, [(a, f.MANAGER)])
    session.commit()
    session.add(OutboundEmail(recipient=manager.email, subject="Nouvelle demande de création de compte",
                              kind="request_notification", body_text="l'ancienne", body_html=""))
    session.commit()
    request_service.submit_request(session, form(a.siret))
    bodies = session.scalars(select(OutboundEmail.body_text).where(OutboundEmail.kind == "request_notification")
                             .order_by(OutboundEmail.id)).all()
    assert bodies[0] == "l'ancienne" and len(bodies) == 2 and "AMIDALA Padmé" in bodies[1]
