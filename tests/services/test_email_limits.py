"""Emails that third parties can cause are bounded per recipient and per establishment, counted in the
database (services.email_limits); notifications to one person within minutes share one email; what a
requester typed is quoted as theirs; a request always has someone to tell. HTTP: tests/views/test_email_limits.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from admin_app.extensions import db as _db
from admin_app.services import accounts, claims, email_limits
from admin_app.services import requests as request_service
from models import (
    AccountRequest,
    AuditEvent,
    EmailStatus,
    OutboundEmail,
    OutboundEmailRequest,
    RequestStatus,
    utcnow,
)

from ..databases import ON_POSTGRES
from ..threads import run_together
from . import factories as f

URGENT = "URGENT – appelez le 01 23 45 67 89"


def form(siret: str, n: int = 0, **changes) -> dict:
    data = {"civility": "M.", "last_name": "Vador", "first_name": "Dark", "email": f"visitor{n}@example.net",
            "phone": "0611223344", "job_title": "", "company_name": "ONE", "siret": siret}
    return {**data, **changes}


def to(session, recipient: str, kind: str = "request_notification") -> list[OutboundEmail]:
    return list(session.scalars(select(OutboundEmail).where(OutboundEmail.recipient == recipient, OutboundEmail.kind == kind)
                                .order_by(OutboundEmail.id)))


def suppressed(session) -> list[AuditEvent]:
    return f.events(session, email_limits.SUPPRESSED)


def worker_sends_everything(session) -> None:
    """A prompt worker: nothing stays queued long enough to be joined."""
    session.execute(update(OutboundEmail).where(OutboundEmail.status == EmailStatus.PENDING.value)
                    .values(status=EmailStatus.SENT.value, sent_at=utcnow()))
    session.commit()


@pytest.fixture
def luke(session):
    """An establishment whose one manager is told of each request."""
    where = f.establishment(session)
    manager = f.user(session, [(where, f.MANAGER)])
    session.commit()
    return manager, where


# --- per recipient ---------------------------------------------------------------------------------------

def test_a_manager_gets_at_most_the_hourly_bound_of_notifications_and_one_audit_entry(session, app, luke):
    manager, where = luke
    for n in range(7):
        request_service.submit_request(session, form(where.siret, n))
        worker_sends_everything(session)
    assert len(to(session, manager.email)) == app.config["EMAIL_LIMIT_RECIPIENT_HOUR"] == 3
    assert f.count(session, AccountRequest) == 7  # every request kept, and shown in the requests tab
    assert len(to(session, "visitor6@example.net", "request_received")) == 1  # each requester's own bound
    (entry,) = suppressed(session)  # once per burst, not once per email left out
    assert (entry.target_type, entry.target_id, entry.target_label) == ("email", None, manager.email)
    assert entry.after == {"email": "request_notification", "limite": "3 par heure"}
    notified = f.events(session, "request.notify")
    assert len(notified) == 3 and all(e.after["destinataires"] == [manager.email] for e in notified)


def test_the_daily_bound_counts_the_last_day_only(session, app, luke, monkeypatch):
    manager, where = luke
    monkeypatch.setitem(app.config, "EMAIL_LIMIT_RECIPIENT_HOUR", 100)
    monkeypatch.setitem(app.config, "EMAIL_LIMIT_RECIPIENT_DAY", 2)
    for n in range(3):
        request_service.submit_request(session, form(where.siret, n))
        worker_sends_everything(session)
    assert len(to(session, manager.email)) == 2
    assert suppressed(session)[0].after["limite"] == "2 par jour"
    session.execute(update(OutboundEmail).values(created_at=utcnow() - timedelta(hours=25)))
    session.commit()
    request_service.submit_request(session, form(where.siret, 3))
    assert len(to(session, manager.email)) == 3


def test_a_claim_to_confirm_is_bounded_at_the_account_holders_address(session, luke):
    _, where = luke
    holder = f.user(session, [(f.establishment(session), f.NONE)])
    session.commit()
    sirets = [f.establishment(session).siret for _ in range(5)]
    session.commit()
    for n, siret in enumerate(sirets):
        request_service.submit_request(session, form(siret, n, email=holder.email))
        # Decided at once: one claim waits per account, and this one no longer does.
        session.execute(update(AccountRequest).where(AccountRequest.status == RequestStatus.UNCONFIRMED.value)
                        .values(status=RequestStatus.REFUSED.value))
        worker_sends_everything(session)
    assert len(to(session, holder.email, "confirm_attachment")) == 3
    assert [e.target_label for e in suppressed(session)] == [holder.email]


# --- per establishment -----------------------------------------------------------------------------------

def test_requests_naming_one_siret_past_its_bound_are_kept_but_cause_no_email(session, app, luke, monkeypatch):
    manager, where = luke
    monkeypatch.setitem(app.config, "EMAIL_LIMIT_SIRET_HOUR", 2)
    for n in range(4):
        request_service.submit_request(session, form(where.siret, n))
        worker_sends_everything(session)
    assert f.count(session, AccountRequest, AccountRequest.siret == where.siret) == 4
    assert [e.recipient for e in f.outbox(session, "request_received")] == ["visitor0@example.net", "visitor1@example.net"]
    assert len(to(session, manager.email)) == 2
    (entry,) = suppressed(session)
    assert entry.target_label == f"SIRET {where.siret}" and entry.after["limite"] == "2 par heure"


# --- forgotten password -----------------------------------------------------------------------------------

def test_forgotten_password_links_are_bounded_and_leave_the_last_link_valid(session):
    holder = f.user(session, [(f.establishment(session), f.NONE)], password_hash="x")
    session.commit()
    answers = [accounts.request_password_link(session, holder.email.upper(), "203.0.113.1") for _ in range(3)]
    nonce = holder.link_nonce
    answers += [accounts.request_password_link(session, holder.email, "203.0.113.2") for _ in range(3)]
    assert answers == [True] * 3 + [False] * 3
    assert len(to(session, holder.email, "set_password")) == 3
    session.refresh(holder)
    assert holder.link_nonce == nonce  # the links already sent keep working
    assert [(e.target_label, e.after["email"]) for e in suppressed(session)] == [(holder.email, "set_password")]
    assert len(f.events(session, "user.password_link")) == 6


# --- grouping --------------------------------------------------------------------------------------------

def test_requests_within_minutes_share_one_notification_listing_them_all(session, luke):
    manager, where = luke
    request_service.submit_request(session, form(where.siret, 0, last_name="Amidala", first_name="Padmé"))
    request_service.submit_request(session, form(where.siret, 1, last_name="Organa", first_name="Leia"))
    request_service.submit_request(session, form(where.siret, 2, last_name="Solo", first_name="Han"))
    (email,) = to(session, manager.email)
    assert email.subject == "3 nouvelles demandes de création de compte"
    assert "3 nouvelles demandes de création de compte attendent votre décision" in email.body_text
    for name in ("AMIDALA Padmé", "ORGANA Leia", "SOLO Han"):
        assert name in email.body_text and name in email.body_html
    assert f.count(session, OutboundEmailRequest, OutboundEmailRequest.email_id == email.id) == 3
    assert len(f.events(session, "request.notify")) == 3  # each request's own history says who was told


def test_an_email_a_worker_claimed_is_never_rewritten(session, luke):
    manager, where = luke
    request_service.submit_request(session, form(where.siret, 0))
    (claimed,) = to(session, manager.email)
    session.execute(update(OutboundEmail).where(OutboundEmail.id == claimed.id).values(claimed_by="w", claimed_at=utcnow()))
    session.commit()
    body = claimed.body_text
    request_service.submit_request(session, form(where.siret, 1))
    first, second = to(session, manager.email)
    session.refresh(first)
    assert first.body_text == body and first.subject == "Nouvelle demande de création de compte"
    assert second.subject == "Nouvelle demande de création de compte"


def test_a_notification_older_than_the_window_is_not_joined(session, app, luke):
    manager, where = luke
    request_service.submit_request(session, form(where.siret, 0))
    minutes = app.config["NOTIFICATION_GROUP_MINUTES"]
    session.execute(update(OutboundEmail).values(created_at=utcnow() - timedelta(minutes=minutes + 1)))
    session.commit()
    request_service.submit_request(session, form(where.siret, 1))
    assert [e.subject for e in to(session, manager.email)] == ["Nouvelle demande de création de compte"] * 2


def test_a_long_group_lists_its_first_requests_and_counts_the_others(session, app, luke, monkeypatch):
    manager, where = luke
    monkeypatch.setitem(app.config, "EMAIL_LIMIT_SIRET_HOUR", 100)
    for n in range(23):
        request_service.submit_request(session, form(where.siret, n))
    (email,) = to(session, manager.email)
    assert email.subject == "23 nouvelles demandes de création de compte"
    assert "Et 3 autres : retrouvez-les toutes dans « Mes utilisateurs »." in email.body_text
    assert email.body_text.count("Informations saisies par le demandeur") == 20


# --- what the requester typed ---------------------------------------------------------------------------

def test_typed_text_reaches_others_only_quoted_and_labelled(session, luke):
    manager, where = luke
    request_service.submit_request(session, form(where.siret, 0, company_name=URGENT, job_title=URGENT))
    (email,) = to(session, manager.email)
    assert URGENT not in email.subject
    lines = [line for line in email.body_text.splitlines() if "URGENT" in line]
    assert lines == [f"   > Fonction : « {URGENT} »", f"   > Raison sociale : « {URGENT} »"]
    assert "Informations saisies par le demandeur (non vérifiées) :" in email.body_text
    # The product names the establishment by its recorded name, never by the typed one.
    assert f"pour l'établissement {where.name} – {where.company.name} (SIRET" in email.body_text
    html = email.body_html
    quoted = html[html.index("<blockquote"):html.index("</blockquote>")]
    assert html.count("URGENT") == quoted.count("URGENT") == 2


def test_a_claim_quotes_what_its_author_typed(session):
    where = f.establishment(session)
    holder = f.user(session, [(f.establishment(session), f.NONE)])
    session.commit()
    request_service.submit_request(session, form(where.siret, email=holder.email, company_name=URGENT))
    (email,) = to(session, holder.email, "confirm_attachment")
    assert URGENT not in email.subject
    assert [line for line in email.body_text.splitlines() if "URGENT" in line] == [f"   > Raison sociale : « {URGENT} »"]
    assert f"à l'établissement {where.name} – {where.company.name} (SIRET" in email.body_text


def test_markup_typed_by_a_requester_stays_text_in_the_html_email(session, luke):
    manager, where = luke
    request_service.submit_request(session, form(where.siret, company_name='<a href="https://evil.example">Cliquez</a>'))
    (email,) = to(session, manager.email)
    assert "evil.example\">" not in email.body_html and "&lt;a href=" in email.body_html


# --- someone is always told ---------------------------------------------------------------------------

def test_staff_are_told_when_every_administrator_opted_out(session):
    where = f.establishment(session)
    quiet = f.user(session, [(where, f.MANAGER)])
    quiet.notify_requests = False
    f.user(session, [(where, f.USER_ADMIN)], active=False)
    staff = f.user(session, staff=True)
    session.commit()
    request_service.submit_request(session, form(where.siret))
    (email,) = f.outbox(session, "request_notification")
    assert email.recipient == staff.email
    assert "parce qu'aucun gestionnaire ne le reçoit pour cet établissement" in email.body_text
    assert f.events(session, "request.notify")[0].after == {"destinataires": [staff.email]}


def test_a_confirmed_claim_is_announced_to_staff_when_its_administrators_opted_out(session):
    where = f.establishment(session)
    quiet = f.user(session, [(where, f.MANAGER)])
    quiet.notify_requests = False
    staff = f.user(session, staff=True)
    holder = f.user(session, [(f.establishment(session), f.NONE)])
    session.commit()
    claim = request_service.submit_request(session, form(where.siret, email=holder.email))
    assert claims.confirm(session, claim)
    assert [e.recipient for e in f.outbox(session, "request_notification")] == [staff.email]


# --- at once, on PostgreSQL ----------------------------------------------------------------------------

NAMES = ["Amidala", "Organa", "Solo", "Kenobi", "Windu", "Tano"]


def submitted_at_once(app, siret: str) -> None:
    barrier = threading.Barrier(len(NAMES))

    def submit(n: int):
        def work():
            with app.app_context():
                barrier.wait()
                request_service.submit_request(_db.session, form(siret, n, last_name=NAMES[n]))
                _db.session.remove()
        return work

    assert run_together([submit(n) for n in range(len(NAMES))], barrier) == []


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite serialises writes: needs TEST_DATABASE_URL")
@pytest.mark.parametrize("grouping", [True, False])
def test_requests_at_the_same_instant_neither_pass_the_bound_nor_lose_a_grouped_request(session, app, luke, monkeypatch,
                                                                                       grouping):
    manager, where = luke
    if not grouping:
        monkeypatch.setitem(app.config, "NOTIFICATION_GROUP_MINUTES", 0)
    submitted_at_once(app, where.siret)
    session.expire_all()
    told = to(session, manager.email)
    if grouping:
        (email,) = told
        assert email.subject == f"{len(NAMES)} nouvelles demandes de création de compte"
        assert all(name.upper() in email.body_text for name in NAMES)
        assert f.count(session, OutboundEmailRequest, OutboundEmailRequest.email_id == email.id) == len(NAMES)
    else:
        assert len(told) == app.config["EMAIL_LIMIT_RECIPIENT_HOUR"]
        assert len(suppressed(session)) == 1
