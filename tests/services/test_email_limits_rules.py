"""services.email_limits, rule by rule: what each bound counts (which emails, which requests, which window) and
how a suppression is audited. The bounds as a visitor meets them: tests/services/test_email_limits.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from admin_app.services import email_limits
from models import AccountRequest, AuditEvent, OutboundEmail, utcnow

from . import factories as f

TO = "manager@example.org"


def sent(session, recipient: str = TO, kind: str = "request_notification", age: timedelta = timedelta(0)) -> None:
    session.add(OutboundEmail(recipient=recipient, subject="s", body_text="b", kind=kind, created_at=utcnow() - age))
    session.commit()


def filed(session, siret: str, age: timedelta = timedelta(0), n: int = 0) -> AccountRequest:
    request = AccountRequest(civility="M.", last_name="Vador", first_name="Dark", email=f"visitor{n}@example.net",
                             phone="0611223344", company_name="ONE", siret=siret, requested_at=utcnow() - age)
    session.add(request)
    session.commit()
    return request


def suppressed(session) -> list[tuple[str, dict]]:
    return [(e.target_label, e.after) for e in f.events(session, email_limits.SUPPRESSED)]


@pytest.fixture
def bounds(app, monkeypatch):
    def set_bounds(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setitem(app.config, f"EMAIL_LIMIT_{name}", value)
    return set_bounds


# --- per recipient ---------------------------------------------------------------------------------------

def test_a_bound_of_one_lets_the_first_email_through_and_stops_the_second(session, bounds):
    bounds(RECIPIENT_HOUR=1, RECIPIENT_DAY=1)
    assert email_limits.recipient_allows(session, TO, "request_notification") is True
    assert suppressed(session) == []
    sent(session)
    assert email_limits.recipient_allows(session, TO, "request_notification") is False
    assert suppressed(session) == [(TO, {"email": "request_notification", "limite": "1 par heure"})]


def test_emails_of_other_kinds_do_not_count_towards_the_bound_on_request_emails(session, bounds):
    bounds(RECIPIENT_HOUR=2, RECIPIENT_DAY=2)
    for _ in range(3):
        sent(session, kind="set_password")
    sent(session, recipient="someone.else@example.org")
    assert email_limits.recipient_allows(session, TO, "request_notification") is True
    assert email_limits.recipient_allows(session, TO, "set_password", email_limits.LINK_KINDS) is False


def test_an_email_older_than_an_hour_counts_for_the_day_only(session, bounds):
    bounds(RECIPIENT_HOUR=1, RECIPIENT_DAY=2)
    sent(session, age=timedelta(hours=2))
    assert email_limits.recipient_allows(session, TO, "request_notification") is True
    sent(session, age=timedelta(hours=3))
    assert email_limits.recipient_allows(session, TO, "request_notification") is False
    assert suppressed(session) == [(TO, {"email": "request_notification", "limite": "2 par jour"})]


# --- per establishment -----------------------------------------------------------------------------------

def test_only_requests_naming_the_same_siret_count(session, bounds):
    bounds(SIRET_HOUR=1, SIRET_DAY=1)
    here, elsewhere = f.establishment(session).siret, f.establishment(session).siret
    filed(session, elsewhere, n=1)
    request = filed(session, here, n=2)  # itself is not counted either
    assert email_limits.establishment_allows(session, request, "request_received") is True
    assert suppressed(session) == []


def test_a_request_older_than_an_hour_counts_for_the_day_and_one_older_than_a_day_not_at_all(session, bounds):
    bounds(SIRET_HOUR=1, SIRET_DAY=2)
    siret = f.establishment(session).siret
    filed(session, siret, age=timedelta(hours=30), n=1)
    filed(session, siret, age=timedelta(hours=2), n=2)
    request = filed(session, siret, n=3)
    assert email_limits.establishment_allows(session, request, "request_received") is True
    filed(session, siret, age=timedelta(hours=5), n=4)
    assert email_limits.establishment_allows(session, request, "request_received") is False
    assert suppressed(session) == [(f"SIRET {siret}", {"email": "request_received", "limite": "2 par jour"})]


def test_an_email_over_the_establishment_bound_is_audited_with_its_kind(session, bounds):
    bounds(SIRET_HOUR=1)
    siret = f.establishment(session).siret
    filed(session, siret, n=1)
    request = filed(session, siret, n=2)
    assert email_limits.allows(session, "visitor2@example.net", "request_received", request) is False
    assert suppressed(session) == [(f"SIRET {siret}", {"email": "request_received", "limite": "1 par heure"})]


# --- the audit of a suppression -------------------------------------------------------------------------

def test_each_address_over_its_bound_gets_its_own_audit_entry(session, bounds):
    bounds(RECIPIENT_HOUR=1)
    other = "other.manager@example.org"
    sent(session)
    sent(session, recipient=other)
    for _ in range(2):
        assert email_limits.recipient_allows(session, TO, "request_notification") is False
        assert email_limits.recipient_allows(session, other, "request_notification") is False
    session.commit()
    assert [label for label, _ in suppressed(session)] == [TO, other]


def test_a_suppression_audited_over_an_hour_ago_is_audited_again(session, bounds):
    bounds(RECIPIENT_HOUR=1)
    sent(session)
    assert email_limits.recipient_allows(session, TO, "request_notification") is False
    session.commit()
    (first,) = f.events(session, email_limits.SUPPRESSED)
    first.created_at = utcnow() - timedelta(minutes=61)
    session.commit()
    assert email_limits.recipient_allows(session, TO, "request_notification") is False
    session.commit()
    assert f.count(session, AuditEvent, AuditEvent.action == email_limits.SUPPRESSED) == 2
