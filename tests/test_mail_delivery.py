"""Delivery against real SMTP servers: the certificate is verified (STARTTLS and SMTPS), and a
`send-mail` worker killed mid-batch loses no email: a new worker sends the rest within the lease."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess  # nosec B404: the tests start openssl and the worker, with fixed arguments
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from admin_app.extensions import db as app_db
from admin_app.services import emails
from models import OutboundEmail, utcnow

from .servers import Inbox, free_port

ROOT = Path(__file__).resolve().parent.parent


def self_signed(folder: Path, name: str, alt_names: str) -> SimpleNamespace:
    """A self-signed certificate for `alt_names` (e.g. "IP:127.0.0.1"), made with the openssl CLI."""
    openssl = shutil.which("openssl")
    assert openssl, "the TLS tests need the openssl command"
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(  # nosec B603
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName={alt_names}",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return SimpleNamespace(cert=str(cert), server_context=server)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    return SimpleNamespace(
        local=self_signed(folder, "smtp-local", "IP:127.0.0.1,DNS:localhost"),
        elsewhere=self_signed(folder, "smtp-elsewhere", "DNS:mail.example.org"),
    )


def start_server(monkeypatch, app, **controller_options) -> SimpleNamespace:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **controller_options)
    controller.start()
    for key, value in {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                       "MAIL_USE_TLS": False, "MAIL_USE_SSL": False, "MAIL_CA_FILE": None}.items():
        monkeypatch.setitem(app.config, key, value)
    return SimpleNamespace(inbox=inbox, port=port, controller=controller)


def queue_one(app) -> int:
    with app.app_context():
        email = emails.enqueue(app_db.session, "leia@example.org", "verify_email", "Validez votre adresse email",
                               user=SimpleNamespace(first_name="Leia", last_name="ORGANA"), link="http://x/y", expiry="48 heures")
        app_db.session.commit()
        email_id = email.id
        app_db.session.remove()
    return email_id


def deliver(app) -> tuple[int, int]:
    with app.app_context():
        result = emails.deliver_pending(app_db.session)
        app_db.session.remove()
    return result


def state(db, email_id: int) -> OutboundEmail:
    db.session.expire_all()
    return db.session.get(OutboundEmail, email_id)


@pytest.fixture
def starttls(app, certificates, monkeypatch):
    # require_starttls: the server refuses the mail unless the client switched to TLS first.
    server = start_server(monkeypatch, app, tls_context=certificates.local.server_context, require_starttls=True)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", True)
    yield server
    server.controller.stop()


@pytest.fixture
def smtps(app, certificates, monkeypatch):
    server = start_server(monkeypatch, app, ssl_context=certificates.local.server_context)
    monkeypatch.setitem(app.config, "MAIL_USE_SSL", True)
    yield server
    server.controller.stop()


def test_starttls_refuses_an_untrusted_certificate_then_delivers_once_it_is_trusted(app, db, starttls, certificates):
    email_id = queue_one(app)
    assert deliver(app) == (0, 1)
    refused = state(db, email_id)
    assert (refused.status, refused.attempts, refused.claimed_by) == ("pending", 1, None)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.last_error
    assert starttls.inbox.messages == []

    app.config["MAIL_CA_FILE"] = certificates.local.cert
    db.session.execute(update(OutboundEmail).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert deliver(app) == (1, 0)
    assert [m["To"] for m in starttls.inbox.messages] == ["leia@example.org"]
    sent = state(db, email_id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)


def test_starttls_refuses_a_trusted_certificate_for_another_name(app, db, certificates, monkeypatch):
    # The certificate is trusted, but it names mail.example.org, not the server we connect to.
    server = start_server(monkeypatch, app, tls_context=certificates.elsewhere.server_context, require_starttls=True)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", True)
    monkeypatch.setitem(app.config, "MAIL_CA_FILE", certificates.elsewhere.cert)
    try:
        email_id = queue_one(app)
        assert deliver(app) == (0, 1)
    finally:
        server.controller.stop()
    refused = state(db, email_id)
    assert refused.status == "pending" and "IP address mismatch" in refused.last_error
    assert server.inbox.messages == []


def test_smtps_verifies_the_certificate_too(app, db, smtps, certificates):
    email_id = queue_one(app)
    assert deliver(app) == (0, 1)
    assert "CERTIFICATE_VERIFY_FAILED" in state(db, email_id).last_error
    assert smtps.inbox.messages == []

    app.config["MAIL_CA_FILE"] = certificates.local.cert
    db.session.execute(update(OutboundEmail).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert deliver(app) == (1, 0)
    assert [m["Subject"] for m in smtps.inbox.messages] == ["Validez votre adresse email"]
    assert state(db, email_id).status == "sent"


# --- a worker killed mid-batch --------------------------------------------------------------------

LEASE = 2.0  # seconds: short, so that the test waits little for the dead worker's claims
DELAY = 0.3  # seconds the SMTP server takes to accept each email, so that the batch is slow
COUNT = 8


class SlowInbox(Inbox):
    """Keeps each email, then waits before answering: an email may be received by the server while
    the worker is killed before it hears "250", the case that makes a second copy."""

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(DELAY)
        return answer


def start_worker(app, database_url: str, port: int, log: Path) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAIL_", "FLASK_"))}
    env.update(DATABASE_URL=database_url, SECRET_KEY="test-secret-key", BASE_URL=app.config["BASE_URL"],
               MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=str(port), MAIL_CLAIM_LEASE=str(LEASE),
               FLASK_SKIP_DOTENV="1", PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "flask", "--app", "admin_app", "send-mail", "--loop", "--interval", "0.1"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)  # nosec B603


def wait_for(condition, timeout: float, what: str) -> float:
    """Poll `condition` until it holds; return the seconds it took; fail after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_worker_killed_mid_batch_loses_nothing_and_a_copy_keeps_its_message_id(app, db, database_url, tmp_path):
    inbox, port = SlowInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    with app.app_context():
        for i in range(COUNT):
            emails.enqueue(app_db.session, f"user{i}@example.org", "verify_email", "Validez votre adresse email",
                           user=SimpleNamespace(first_name="A", last_name="B"), link="http://x/y", expiry="48 heures")
        app_db.session.commit()
        app_db.session.remove()
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen] = []
    try:
        workers.append(start_worker(app, database_url, port, log))
        wait_for(lambda: len(inbox.messages) >= 2, 60, "the first worker sends")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        killed_at = time.monotonic()
        db.session.expire_all()
        stranded = db.session.scalar(select(func.count()).select_from(OutboundEmail).where(
            OutboundEmail.status == "pending", OutboundEmail.claimed_by.is_not(None)))
        assert stranded >= 1, "the worker should have been killed with claimed emails left to send"

        workers.append(start_worker(app, database_url, port, log))
        # The dead worker's claims are free LEASE seconds after its last renewal; then the new
        # worker (started within a few seconds) sends what is left, DELAY seconds each.
        bound = LEASE + 15 + COUNT * DELAY
        wait_for(lambda: {m["To"] for m in inbox.messages} == {f"user{i}@example.org" for i in range(COUNT)},
                 bound - (time.monotonic() - killed_at), "every email delivered after the restart")

        def all_recorded():
            db.session.expire_all()
            return db.session.scalars(select(OutboundEmail.status)).all() == ["sent"] * COUNT

        wait_for(all_recorded, 10, "every email recorded as sent")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        controller.stop()
        print(log.read_text(errors="replace"))  # shown when the test fails

    rows = db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)).all()
    assert all(row.claimed_by is None and row.claimed_at is None for row in rows)
    received: dict[str, set[str]] = defaultdict(set)
    for message in inbox.messages:
        received[message["To"]].add(message["Message-ID"])
    # Every copy of an email, first or second, carries that row's one Message-ID.
    assert dict(received) == {row.recipient: {emails.message_id(row, app.config)} for row in rows}
    assert COUNT <= len(inbox.messages) <= COUNT + 1  # at most the one email in flight when killed
