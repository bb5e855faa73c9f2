"""The outbox's rules as the back office sees them on the Emails screen: "Renvoyer" and its history entry, the
error kept for a failed attempt, one failing email not holding up the others, a worker whose claim was
taken over leaving the outcome to the new owner, and the CA file trusted for TLS."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404: the openssl CLI with fixed arguments
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from admin_app.services import ServiceError, emails
from models import AuditEvent, OutboundEmail, utcnow

from . import factories


def queue(session, *recipients: str) -> list[OutboundEmail]:
    queued = [emails.enqueue(session, to, "request_refused", "Votre demande de compte n'a pas été acceptée",
                             request=None, reason="Motif") for to in recipients]
    session.commit()
    return queued


def stored(session, email_id: int) -> OutboundEmail:
    session.expire_all()
    return session.get(OutboundEmail, email_id)


def failing_for(monkeypatch, recipient: str, error: Exception, before_raising=None) -> list[str]:
    sent = []

    def send(msg, _config):
        if msg["To"] == recipient:
            if before_raising:
                before_raising()
            raise error
        sent.append(msg["To"])

    monkeypatch.setattr(emails, "_send", send)
    return sent


# --- Renvoyer ---------------------------------------------------------------------------------------

def test_renvoyer_on_emails_that_did_not_fail_says_so(session):
    (email,) = queue(session, "a@example.org")
    staff = factories.user(session, staff=True)
    session.commit()
    with pytest.raises(ServiceError) as refused:
        emails.retry_failed(session, factories.actor(staff), [email.id])
    assert refused.value.message == "Seuls les emails en échec peuvent être renvoyés."


def test_renvoyer_names_the_email_in_the_history_by_subject_and_recipient(session):
    (email,) = queue(session, "a@example.org")
    session.execute(update(OutboundEmail).values(status="failed", attempts=5))
    staff = factories.user(session, staff=True)
    session.commit()
    emails.retry_failed(session, factories.actor(staff), [email.id])
    session.expire_all()
    (row,) = session.scalars(select(AuditEvent)).all()
    assert (row.action, row.actor_id, row.target_type, row.target_id, row.target_label) == (
        "email.retry", staff.id, "email", email.id, "Votre demande de compte n'a pas été acceptée → a@example.org")


# --- a failed attempt -------------------------------------------------------------------------------

def test_the_error_of_a_failed_attempt_is_kept_to_1000_characters(session, monkeypatch):
    (email,) = queue(session, "a@example.org")
    failing_for(monkeypatch, "a@example.org", RuntimeError("x" * 3000))
    assert emails.deliver_pending(session, worker="w1") == (0, 1)
    error = stored(session, email.id).last_error
    assert error.startswith("RuntimeError: xxx") and len(error) == 1000


def test_one_failing_email_does_not_hold_up_the_rest_of_the_batch(session, monkeypatch):
    first, second, third = queue(session, "a@example.org", "b@example.org", "c@example.org")
    sent = failing_for(monkeypatch, "a@example.org", ConnectionRefusedError("refused"))
    assert emails.deliver_pending(session, worker="w1") == (2, 1)
    assert sent == ["b@example.org", "c@example.org"]
    assert [(stored(session, e.id).status, stored(session, e.id).attempts) for e in (first, second, third)] == [
        ("pending", 1), ("sent", 1), ("sent", 1)]


def test_a_failure_after_another_worker_took_the_email_over_is_left_to_that_worker(session, monkeypatch):
    (email,) = queue(session, "a@example.org")

    def taken_over():  # the lease ran out during a slow send: another worker claimed the email
        with session.get_bind().begin() as conn:
            conn.execute(update(OutboundEmail).where(OutboundEmail.id == email.id)
                         .values(claimed_by="w2", claimed_at=utcnow()))

    failing_for(monkeypatch, "a@example.org", TimeoutError("timed out"), before_raising=taken_over)
    assert emails.deliver_pending(session, worker="w1") == (0, 1)
    after = stored(session, email.id)
    assert (after.status, after.attempts, after.last_error, after.claimed_by) == ("pending", 0, None, "w2")
    assert after.next_attempt_at <= utcnow() + timedelta(seconds=1)


# --- TLS --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca_file(tmp_path_factory):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("the openssl command makes the test certificate")
    folder = tmp_path_factory.mktemp("ca")
    cert, key = folder / "relay.pem", folder / "relay.key"
    subprocess.run(  # nosec B603
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=relais-prive.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return str(cert)


def subjects(context) -> list:
    return [dict(part[0] for part in ca["subject"]).get("commonName") for ca in context.get_ca_certs()]


def test_mail_ca_file_is_trusted_for_the_relay(ca_file):
    assert "relais-prive.example" in subjects(emails._tls_context({"MAIL_CA_FILE": ca_file}))


@pytest.mark.parametrize("config", [{}, {"MAIL_CA_FILE": None}, {"MAIL_CA_FILE": ""}])
def test_without_mail_ca_file_only_the_system_authorities_are_trusted(ca_file, config):
    context = emails._tls_context(config)
    assert "relais-prive.example" not in subjects(context)
    assert context.check_hostname is True


# --- retrying and naming workers --------------------------------------------------------------------

def test_the_wait_before_a_retry_doubles_from_two_minutes_and_never_exceeds_an_hour(app, session, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 10)
    (email,) = queue(session, "a@example.org")
    failing_for(monkeypatch, "a@example.org", ConnectionRefusedError("refused"))
    waits = []
    for _ in range(7):
        session.execute(update(OutboundEmail).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        emails.deliver_pending(session, worker="w1")
        waits.append(round((stored(session, email.id).next_attempt_at - utcnow()).total_seconds() / 60))
    assert waits == [2, 4, 8, 16, 32, 60, 60]


def test_a_worker_s_name_fits_its_column_and_tells_workers_apart(monkeypatch):
    monkeypatch.setattr(emails.socket, "gethostname", lambda: "h" * 100)
    first, second = emails.worker_name(), emails.worker_name()
    host, pid, suffix = first.split(":")
    assert (host, pid) == ("h" * 32, str(emails.os.getpid()))
    assert len(suffix) == 8 and int(suffix, 16) >= 0
    assert first != second
    assert len(first) <= OutboundEmail.__table__.c.claimed_by.type.length
