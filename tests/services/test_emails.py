"""The emails service called directly: queue, delivery, failures and backoff, "Renvoyer", the claim
lease and the Message-ID that makes a re-sent copy recognisable."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from admin_app.config import Config
from admin_app.extensions import db as app_db
from admin_app.services import ServiceError, emails
from models import AuditEvent, OutboundEmail, utcnow

from ..servers import Inbox, free_port
from . import factories


def queue(session, count: int = 1) -> list[OutboundEmail]:
    """Queue `count` "Validez votre adresse email" emails to fresh users, committed."""
    queued = [emails.enqueue_verify_email(session, factories.user(session)) for _ in range(count)]
    session.commit()
    return queued


def row(session, email_id: int) -> OutboundEmail:
    session.expire_all()
    return session.get(OutboundEmail, email_id)


def make_due(session) -> None:
    session.execute(update(OutboundEmail).values(next_attempt_at=utcnow()))
    session.commit()


def test_enqueue_renders_both_parts_and_waits_for_the_worker(app, session, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "https://moncompte.defi.example")
    user = factories.user(session)
    queued = emails.enqueue_verify_email(session, user)
    session.commit()
    email = row(session, queued.id)
    assert (email.recipient, email.kind, email.subject) == (user.email, "verify_email", "Validez votre adresse email")
    assert (email.status, email.attempts, email.claimed_by, email.sent_at) == ("pending", 0, None, None)
    link = "https://moncompte.defi.example/account/verify/"
    assert link in email.body_text and link in email.body_html
    assert smtp.inbox.messages == []  # queued, not sent: delivery is the worker's job


def test_deliver_sends_each_due_email_once_and_records_it(session, smtp):
    first, second = queue(session, 2)
    assert emails.deliver_pending(session) == (2, 0)
    assert emails.deliver_pending(session) == (0, 0)
    assert [m["To"] for m in smtp.inbox.messages] == [first.recipient, second.recipient]
    message = smtp.inbox.messages[0]
    assert message["Subject"] == "Validez votre adresse email" and "Mon compte DEFI" in message["From"]
    assert "/account/verify/" in message.get_body(("plain",)).get_content()
    email = row(session, first.id)
    assert (email.status, email.attempts, email.last_error, email.claimed_by, email.claimed_at) == ("sent", 1, None, None, None)
    assert email.sent_at is not None
    sent_events = session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "email.sent")).all()
    assert sorted(sent_events) == [first.id, second.id]


def test_a_failure_is_retried_with_growing_backoff_then_marked_failed(app, session, smtp):
    (queued,) = queue(session)
    app.config["MAIL_PORT"] = free_port()  # nothing listens there; the fixture restores the port
    assert emails.deliver_pending(session) == (0, 1)
    email = row(session, queued.id)
    assert (email.status, email.attempts, email.claimed_by) == ("pending", 1, None)
    assert email.last_error.startswith("ConnectionRefusedError")
    assert timedelta(minutes=1.9) < email.next_attempt_at - utcnow() <= timedelta(minutes=2)
    assert emails.deliver_pending(session) == (0, 0)  # not due yet

    make_due(session)
    assert emails.deliver_pending(session) == (0, 1)
    email = row(session, queued.id)
    assert email.attempts == 2 and timedelta(minutes=3.9) < email.next_attempt_at - utcnow() <= timedelta(minutes=4)

    for _ in range(app.config["MAIL_MAX_ATTEMPTS"] - 2):
        make_due(session)
        emails.deliver_pending(session)
    email = row(session, queued.id)
    assert (email.status, email.attempts) == ("failed", app.config["MAIL_MAX_ATTEMPTS"])
    make_due(session)
    assert emails.deliver_pending(session) == (0, 0)  # given up: only "Renvoyer" brings it back
    assert smtp.inbox.messages == []


def test_renvoyer_gives_a_failed_email_a_full_set_of_attempts(app, session, smtp):
    (queued,) = queue(session)
    staff = factories.user(session, staff=True)
    session.execute(update(OutboundEmail).values(status="failed", attempts=app.config["MAIL_MAX_ATTEMPTS"],
                                                 last_error="SMTPServerDisconnected: boom"))
    session.commit()

    assert emails.retry_failed(session, factories.actor(staff), [queued.id]) == 1
    email = row(session, queued.id)
    assert (email.status, email.attempts) == ("pending", 0)
    assert email.next_attempt_at <= utcnow()
    assert session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "email.retry",
                                                              AuditEvent.actor_id == staff.id)).all() == [queued.id]
    # One more failure is the first of a new series, not the last of the old one.
    app.config["MAIL_PORT"] = free_port()
    assert emails.deliver_pending(session) == (0, 1)
    email = row(session, queued.id)
    assert (email.status, email.attempts) == ("pending", 1)


def test_renvoyer_refuses_emails_that_did_not_fail(session):
    (queued,) = queue(session)
    staff = factories.user(session, staff=True)
    session.commit()
    with pytest.raises(ServiceError, match="Seuls les emails en échec peuvent être renvoyés."):
        emails.retry_failed(session, factories.actor(staff), [queued.id])
    assert row(session, queued.id).status == "pending"
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "email.retry")) is None


class Killed(BaseException):
    """The worker dying between the SMTP server's acceptance and the commit."""


def age_claims(session, app, seconds_past_lease: float = 1.0) -> None:
    old = utcnow() - timedelta(seconds=app.config["MAIL_CLAIM_LEASE"] + seconds_past_lease)
    session.execute(update(OutboundEmail).where(OutboundEmail.claimed_by.is_not(None)).values(claimed_at=old))
    session.commit()


def test_a_copy_sent_again_after_a_crash_carries_the_same_message_id(app, session, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "https://moncompte.defi.example")
    crashing, other = queue(session, 2)

    def die(*_args):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(emails, "_record_sent", die)
        with pytest.raises(Killed):
            emails.deliver_pending(session, worker="dead", limit=1)
    session.rollback()
    assert len(smtp.inbox.messages) == 1
    assert row(session, crashing.id).claimed_by == "dead"

    age_claims(session, app)
    assert emails.deliver_pending(session, worker="alive") == (2, 0)
    first, again, second = smtp.inbox.messages
    assert first["To"] == again["To"] == crashing.recipient
    assert first["Message-ID"] == again["Message-ID"] == emails.message_id(row(session, crashing.id), app.config)
    assert first["Message-ID"].startswith(f"<outbox.{crashing.id}.") and first["Message-ID"].endswith("@moncompte.defi.example>")
    assert second["Message-ID"] != first["Message-ID"]
    email = row(session, crashing.id)
    assert (email.status, email.attempts, email.claimed_by) == ("sent", 1, None)


def test_the_message_id_domain_can_be_set(app, session, smtp, monkeypatch):
    (queued,) = queue(session)
    monkeypatch.setitem(app.config, "MAIL_MESSAGE_ID_DOMAIN", "mail.defi.example")
    emails.deliver_pending(session)
    assert smtp.inbox.messages[0]["Message-ID"].endswith("@mail.defi.example>")


def test_a_stale_claim_is_taken_over_but_not_a_fresh_one(app, session, smtp):
    stale, fresh = queue(session, 2)
    now = utcnow()
    lease = timedelta(seconds=app.config["MAIL_CLAIM_LEASE"])
    session.execute(update(OutboundEmail).where(OutboundEmail.id == stale.id)
                    .values(claimed_by="dead", claimed_at=now - lease - timedelta(seconds=1)))
    session.execute(update(OutboundEmail).where(OutboundEmail.id == fresh.id).values(claimed_by="busy", claimed_at=now))
    session.commit()

    assert emails.deliver_pending(session, worker="new") == (1, 0)
    assert [m["To"] for m in smtp.inbox.messages] == [stale.recipient]
    assert row(session, stale.id).status == "sent"
    still = row(session, fresh.id)
    assert (still.status, still.claimed_by) == ("pending", "busy")


def test_the_default_lease_lets_a_killed_workers_emails_go_out_within_a_minute():
    assert 0 < Config().MAIL_CLAIM_LEASE <= 30


class SlowInbox(Inbox):
    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_a_slow_but_alive_worker_keeps_its_whole_batch(app, session, monkeypatch):
    """Sending the batch takes longer than the lease, each email much less: renewing the lease
    before each send keeps the batch, so a second worker polling meanwhile takes nothing."""
    inbox, port = SlowInbox(delay=0.4), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_CLAIM_LEASE": 1.0}.items():
        monkeypatch.setitem(app.config, key, value)
    queued = queue(session, 4)
    results: dict[str, int] = {}

    def slow():
        with app.app_context():
            results["slow"] = emails.deliver_pending(app_db.session, worker="slow")[0]
            app_db.session.remove()

    def poller():
        while not inbox.messages and slow_thread.is_alive():  # start once the batch is claimed and under way
            time.sleep(0.01)
        taken = 0
        with app.app_context():
            while slow_thread.is_alive():
                taken += emails.deliver_pending(app_db.session, worker="poller")[0]
                time.sleep(0.05)
            app_db.session.remove()
        results["poller"] = taken

    slow_thread, poll_thread = threading.Thread(target=slow), threading.Thread(target=poller)
    try:
        slow_thread.start()
        poll_thread.start()
        slow_thread.join(timeout=30)
        poll_thread.join(timeout=30)
    finally:
        controller.stop()
    assert results == {"slow": 4, "poller": 0}
    assert sorted(m["To"] for m in inbox.messages) == sorted(e.recipient for e in queued)


def test_the_console_backend_prints_each_email_decoded(app, session, capsys, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "console")
    user = factories.user(session)
    user.first_name = "Hélène"
    queued = emails.enqueue_verify_email(session, user)
    session.commit()
    link = next(line for line in queued.body_text.splitlines() if line.startswith("http"))
    assert len(link) > 76  # longer than a quoted-printable line: the case that used to be cut

    assert emails.deliver_pending(session) == (1, 0)
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert "Objet : Validez votre adresse email" in lines
    assert f"À : {user.email}" in lines
    assert f"Bonjour Hélène {user.last_name}," in lines
    assert lines.count(link) == 2  # in the text, and again under "Liens :"
    assert lines[lines.index("Liens :") + 1] == link
    assert "=C3=A9" not in printed and "Content-Transfer-Encoding" not in printed
    assert row(session, queued.id).status == "sent"
