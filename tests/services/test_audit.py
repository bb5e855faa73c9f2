"""The audit writer called directly: one entry (`record`), one per user matched in SQL
(`record_for_users`), and `changes`; the rows read back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from admin_app.services import SYSTEM_ACTOR, Actor, audit
from models import AuditEvent, User, utcnow

from . import factories as f


def rows(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_record_writes_one_entry_with_the_change_it_describes(session):
    who = f.user(session, staff=True)
    session.commit()
    actor = Actor(who, ip="2001:db8::1")
    start = utcnow()
    event = audit.record(session, actor, "user.update", "user", 42, "DOE Jane <jane@example.org>",
                         {"email_verified_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "active": True},
                         {"email_verified_at": None, "active": False, "born": date(2000, 2, 29)})
    assert rows(session) != []  # flushed with the session: part of the same transaction
    session.commit()
    (stored,) = rows(session)
    assert stored.id == event.id
    assert (stored.actor_id, stored.actor_label, stored.ip) == (who.id, f"{who.full_name} <{who.email}>", "2001:db8::1")
    assert (stored.action, stored.target_type, stored.target_id, stored.target_label) == \
        ("user.update", "user", 42, "DOE Jane <jane@example.org>")
    assert stored.before == {"email_verified_at": "2026-01-02T03:04:05+00:00", "active": True}
    assert stored.after == {"email_verified_at": None, "active": False, "born": "2000-02-29"}
    assert start - timedelta(seconds=1) <= stored.created_at <= utcnow() and stored.created_at.tzinfo is not None


def test_record_is_undone_with_its_transaction(session):
    audit.record(session, SYSTEM_ACTOR, "company.create", "company", 1, "X")
    session.rollback()
    assert rows(session) == []


def test_record_without_values_and_by_the_system(session):
    audit.record(session, SYSTEM_ACTOR, "email.sent", "email", None, "Objet → a@example.org")
    session.commit()
    (stored,) = rows(session)
    assert (stored.actor_id, stored.actor_label, stored.ip) == (None, "Système", None)
    assert (stored.target_id, stored.before, stored.after) == (None, None, None)


def test_record_for_users_writes_one_entry_per_matching_user_in_sql(session):
    who = f.user(session, staff=True)
    matched = [f.user(session, name=name) for name in ("Alpha", "Beta", "Gamma")]
    f.user(session, name="Other")
    session.commit()
    start = utcnow()
    audit.record_for_users(session, Actor(who, ip="192.0.2.1"), "user.deactivate",
                           User.last_name.in_(["ALPHA", "BETA", "GAMMA"]),
                           {"active": True, "at": datetime(2026, 3, 1, tzinfo=UTC)}, {"active": False})
    session.commit()
    stored = rows(session)
    assert sorted(e.target_id for e in stored) == sorted(u.id for u in matched)
    labels = {u.id: f"{u.last_name} {u.first_name} <{u.email}>" for u in matched}
    for event in stored:
        assert event.target_label == labels[event.target_id]
        assert (event.action, event.target_type) == ("user.deactivate", "user")
        assert (event.actor_id, event.actor_label, event.ip) == (who.id, Actor(who).label, "192.0.2.1")
        assert event.before == {"active": True, "at": "2026-03-01T00:00:00+00:00"} and event.after == {"active": False}
        assert start - timedelta(seconds=1) <= event.created_at <= utcnow() + timedelta(seconds=1)
    assert len({e.created_at for e in stored}) == 1  # one statement, one instant


def test_record_for_users_matching_nobody_writes_nothing(session):
    f.user(session)
    session.commit()
    audit.record_for_users(session, SYSTEM_ACTOR, "user.activate", User.id == -1, None, None)
    session.commit()
    assert rows(session) == []


def test_record_for_users_without_values_stores_nulls(session):
    target = f.user(session)
    session.commit()
    audit.record_for_users(session, SYSTEM_ACTOR, "user.activate", User.id == target.id)
    session.commit()
    (stored,) = rows(session)
    assert (stored.actor_id, stored.actor_label, stored.target_id) == (None, "Système", target.id)
    assert stored.before is None and stored.after is None


def test_changes_keeps_only_the_fields_that_changed_with_both_values():
    before = {"last_name": "DOE", "email": "a@example.org", "phone": "+33611111111", "gone": 1}
    after = {"last_name": "ROE", "email": "a@example.org", "phone": "+33622222222", "job_title": None, "new": "x"}
    assert audit.changes(before, after) == (
        {"last_name": "DOE", "phone": "+33611111111", "new": None},
        {"last_name": "ROE", "phone": "+33622222222", "new": "x"},
    )
    assert audit.changes(before, dict(before)) == ({}, {})
    assert audit.changes({}, {}) == ({}, {})
