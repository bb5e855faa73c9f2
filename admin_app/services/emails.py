"""The outbox: queue emails with the change that causes them; deliver them later."""

from __future__ import annotations

import enum
import os
import re
import smtplib
import socket
import ssl
import sys
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from models import EmailStatus, Establishment, OutboundEmail, User, utcnow
from models.accounts import new_session_token
from models.rules import format_siret

from . import audit, email_limits
from .common import SYSTEM, Actor, ServiceError, transaction
from .tokens import Purpose, make_email_change_token, make_token

PORTAL_NAME = "Mon compte DEFI"
SMTP_TIMEOUT = 10  # seconds per network operation; well under the claim lease


def render(kind: str, subject: str, **context: Any) -> tuple[str, str]:
    """The text and HTML bodies of templates/email/<kind>.txt and .html."""
    context = {"portal_name": PORTAL_NAME, "subject": subject, **context}
    return render_template(f"email/{kind}.txt", **context), render_template(f"email/{kind}.html", **context)


def establishment_label(session: Session, siret: str) -> str:
    """The establishment a request names, in the product's words: its recorded name, never the typed one."""
    known = session.scalar(select(Establishment).where(Establishment.siret == siret))
    if known is None:
        return f"de SIRET {format_siret(siret)}, inconnu de {PORTAL_NAME}"
    return f"{known.name} – {known.company.name} (SIRET {format_siret(siret)})"


def enqueue(session: Session, recipient: str, kind: str, subject: str, **context: Any) -> OutboundEmail | None:
    """Render templates/email/<kind>.txt and .html and add the email to the session.

    An email about a request (email_limits.REQUEST_KINDS) is left out, and None returned, once its
    recipient or its establishment had their share: third parties cause those."""
    request = context.get("request")
    if request is not None:
        if kind in email_limits.REQUEST_KINDS and not email_limits.allows(session, recipient, kind, request):
            return None
        context.setdefault("establishment", establishment_label(session, request.siret))
    body_text, body_html = render(kind, subject, **context)
    email = OutboundEmail(recipient=recipient, subject=subject, kind=kind, body_text=body_text, body_html=body_html)
    session.add(email)
    return email


def _link(endpoint_path: str, token: str) -> str:
    return f"{current_app.config['BASE_URL']}{endpoint_path}{token}"


def _expiry_text() -> str:
    hours = int(current_app.config["EMAIL_LINK_MAX_AGE"].total_seconds() // 3600)
    return f"{hours} heures"


class VerifyReason(enum.StrEnum):
    """Why an address is to be verified: the email says so (an old account is not "just created")."""

    NEW_ACCOUNT = "new_account"
    REMINDER = "reminder"  # an invitation sent again, an activation
    ADDRESS_CHANGED = "address_changed"


def _enqueue_link(session: Session, user: User, purpose: Purpose, kind: str, subject: str, path: str, **context: Any) -> OutboundEmail:
    """Queue an email carrying a fresh signed link: renewing the nonce voids every older link."""
    user.link_nonce = new_session_token()
    session.flush()
    token = make_token(current_app.config["SECRET_KEY"], purpose, user)
    return enqueue(session, user.email, kind, subject, user=user, link=_link(path, token), expiry=_expiry_text(), **context)


def enqueue_verify_email(session: Session, user: User, reason: VerifyReason = VerifyReason.NEW_ACCOUNT) -> OutboundEmail:
    """Queue "Validez votre adresse email", worded for why it is asked."""
    return _enqueue_link(session, user, Purpose.VERIFY_EMAIL, "verify_email", "Validez votre adresse email", "/account/verify/",
                         reason=reason.value)


def enqueue_set_password(session: Session, user: User) -> OutboundEmail:
    """Queue "Créez votre mot de passe", or "Choisissez un nouveau mot de passe" for an account that has one
    (the link works once)."""
    subject = "Choisissez un nouveau mot de passe" if user.password_hash else "Créez votre mot de passe"
    return _enqueue_link(session, user, Purpose.SET_PASSWORD, "set_password", subject, "/account/set-password/",
                         has_password=user.password_hash is not None)


def enqueue_new_address_link(session: Session, user: User, new_email: str, *, send: bool) -> None:
    """Queue the link that proves a new address, to it; without `send` (the address has an account, or had its
    share of these emails) the same email is written and dropped: the answer and the work stay the same."""
    token = make_email_change_token(current_app.config["SECRET_KEY"], Purpose.CONFIRM_EMAIL_CHANGE, user, user.email, new_email)
    subject, context = "Confirmez votre nouvelle adresse email", {
        "user": user, "link": _link("/account/confirm-new-email/", token), "expiry": _expiry_text()}
    if send:
        enqueue(session, new_email, "confirm_email_change", subject, **context)
    else:
        render("confirm_email_change", subject, **context)


def enqueue_change_notice(session: Session, user: User, told: str, new_email: str, *, by_administrator: bool) -> None:
    """Tell `told` (the account's address, or the one a recent change replaced) that `new_email` was asked, with the
    « ce n'était pas moi » link that gives `told` back."""
    token = make_email_change_token(current_app.config["SECRET_KEY"], Purpose.CANCEL_EMAIL_CHANGE, user, told, new_email)
    enqueue(session, told, "email_change_notice", "Changement de l'adresse email de votre compte", user=user,
            new_email=new_email, by_administrator=by_administrator,
            link=_link("/account/cancel-email-change/", token), expiry=_expiry_text())


def enqueue_invitation(session: Session, user: User) -> OutboundEmail:
    """Send the email the user's state calls for: verify the address, else create (or renew) a password."""
    if user.email_verified_at is None:
        return enqueue_verify_email(session, user, VerifyReason.REMINDER)
    return enqueue_set_password(session, user)


# --- delivery -------------------------------------------------------------------------------------
#
# Delivery is at least once. A worker claims a batch for a short lease (MAIL_CLAIM_LEASE) and renews
# it before each send, so a killed worker's emails go out soon after a restart while a slow but live
# one keeps its batch. A worker killed between the SMTP server's "250" and the commit leaves an email
# that will be sent again: its Message-ID, stable per outbox row, lets receivers recognise the copy.

def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** attempts, 60))


def worker_name() -> str:
    """Name this process's worker uniquely: a reused name would let a new worker see a dead one's
    claims as its own."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def message_id(email: OutboundEmail, config: Mapping[str, Any]) -> str:
    """The Message-ID of this outbox row, the same at every attempt; the creation time keeps it unique
    when a rebuilt database reuses ids."""
    domain = config.get("MAIL_MESSAGE_ID_DOMAIN") or urlsplit(config["BASE_URL"]).hostname or "localhost"
    return f"<outbox.{email.id}.{email.created_at:%Y%m%d%H%M%S%f}@{domain}>"


def _message(email: OutboundEmail, config: Mapping[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = email.subject
    msg["From"] = config["MAIL_DEFAULT_SENDER"]
    msg["To"] = email.recipient
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(email, config)
    msg.set_content(email.body_text)
    if email.body_html:
        msg.add_alternative(email.body_html, subtype="html")
    return msg


_URL = re.compile(r"https?://[^\s<>\"]+")


def _print(msg: EmailMessage) -> None:
    """Show an email as a person reads it (`MAIL_BACKEND=console`): decoded text, whole links."""
    body = msg.get_body(("plain",))
    text = body.get_content().rstrip() if body is not None else ""
    links = "\n".join(dict.fromkeys(_URL.findall(text))) or "(aucun)"
    print(
        f"\n----- email -----\nObjet : {msg['Subject']}\nÀ : {msg['To']}\nMessage-ID : {msg['Message-ID']}\n\n"
        f"{text}\n\nLiens :\n{links}\n-----------------",
        file=sys.stdout, flush=True,
    )


def _tls_context(config: Mapping[str, Any]) -> ssl.SSLContext:
    """Verify the server's certificate and name; MAIL_CA_FILE, when set, is trusted instead of the
    system's authorities (a private relay, a test server)."""
    return ssl.create_default_context(cafile=config.get("MAIL_CA_FILE") or None)


def _send(msg: EmailMessage, config: Mapping[str, Any]) -> None:
    backend = config["MAIL_BACKEND"]
    if backend == "console":
        _print(msg)
        return
    if backend != "smtp":
        raise RuntimeError(f"MAIL_BACKEND={backend!r} cannot deliver; use 'smtp' or 'console'")
    host, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    if config.get("MAIL_USE_SSL"):
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=_tls_context(config))
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
    with smtp:
        if config.get("MAIL_USE_TLS") and not config.get("MAIL_USE_SSL"):
            smtp.starttls(context=_tls_context(config))  # refuses a server that does not offer it
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)


def _lease(config: Mapping[str, Any]) -> timedelta:
    return timedelta(seconds=float(config["MAIL_CLAIM_LEASE"]))


def _claimable(stale: datetime) -> ColumnElement[bool]:
    return or_(OutboundEmail.claimed_at.is_(None), OutboundEmail.claimed_at < stale)


def _claim(session: Session, worker: str, limit: int, lease: timedelta) -> list[int]:
    """Claim due emails for this worker: unclaimed ones, or those whose claim's lease ran out."""
    now = utcnow()
    stale = now - lease
    due = (
        select(OutboundEmail.id)
        .where(OutboundEmail.status == EmailStatus.PENDING.value, OutboundEmail.next_attempt_at <= now, _claimable(stale))
        .order_by(OutboundEmail.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        session.rollback()
        return []
    # The conditional UPDATE is the guard on SQLite too: only rows still claimable are taken.
    session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id.in_(ids), OutboundEmail.status == EmailStatus.PENDING.value, _claimable(stale))
        .values(claimed_by=worker, claimed_at=now)
    )
    session.commit()
    return list(session.scalars(
        select(OutboundEmail.id).where(OutboundEmail.id.in_(ids), OutboundEmail.claimed_by == worker).order_by(OutboundEmail.id)
    ))


def _hold(session: Session, worker: str, email_id: int, rest: list[int]) -> bool:
    """Renew the lease on the email about to be sent and on the rest of the batch; False when the
    email is no longer this worker's (its lease ran out and another worker took it, or it is done)."""
    now = utcnow()
    mine = (OutboundEmail.claimed_by == worker, OutboundEmail.status == EmailStatus.PENDING.value)
    held = session.execute(update(OutboundEmail).where(OutboundEmail.id == email_id, *mine).values(claimed_at=now))
    if rest:
        session.execute(update(OutboundEmail).where(OutboundEmail.id.in_(rest), *mine).values(claimed_at=now))
    session.commit()  # before the send: never hold a transaction open during network I/O
    return held.rowcount == 1


def _record_sent(session: Session, email: OutboundEmail) -> None:
    # Sent is a fact even if the lease ran out meanwhile; a copy sent by the other worker is not
    # recorded twice.
    done = session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email.id, OutboundEmail.status == EmailStatus.PENDING.value)
        .values(status=EmailStatus.SENT.value, sent_at=utcnow(), last_error=None, attempts=OutboundEmail.attempts + 1,
                claimed_by=None, claimed_at=None)
    )
    if done.rowcount == 1:
        audit.record(session, SYSTEM, "email.sent", "email", email.id, f"{email.subject} → {email.recipient}")
    session.commit()


def _record_failure(session: Session, worker: str, email: OutboundEmail, error: str, max_attempts: int) -> None:
    attempts = email.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:1000], "claimed_by": None, "claimed_at": None}
    if attempts >= max_attempts:
        values["status"] = EmailStatus.FAILED.value
    else:
        values["next_attempt_at"] = utcnow() + _backoff(attempts)
    # Only while the claim is still ours: otherwise the worker that took it over owns the outcome.
    session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email.id, OutboundEmail.claimed_by == worker,
               OutboundEmail.status == EmailStatus.PENDING.value)
        .values(**values)
    )
    session.commit()


def deliver_pending(session: Session, worker: str | None = None, limit: int = 50) -> tuple[int, int]:
    """Send due emails; return (sent, failed attempts). Failures are retried with backoff."""
    config = current_app.config
    worker = worker or worker_name()
    sent = failed = 0
    batch = _claim(session, worker, limit, _lease(config))
    for position, email_id in enumerate(batch):
        if not _hold(session, worker, email_id, batch[position + 1 :]):
            continue
        email = session.get(OutboundEmail, email_id)
        if email is None:
            continue
        try:
            _send(_message(email, config), config)
        # Any error is this email's failure, retried with backoff: one bad message must not stop
        # the worker and, unrecorded, come back after every lease.
        except Exception as exc:
            failed += 1
            _record_failure(session, worker, email, f"{type(exc).__name__}: {exc}", config["MAIL_MAX_ATTEMPTS"])
        else:
            sent += 1
            _record_sent(session, email)
    return sent, failed


def retry_failed(session: Session, actor: Actor, ids: list[int]) -> int:
    """Put failed emails back in the queue ("Renvoyer"); return how many."""
    with transaction(session):
        emails = list(session.scalars(select(OutboundEmail).where(OutboundEmail.id.in_(ids))))
        failed = [e for e in emails if e.status == EmailStatus.FAILED.value]
        if not failed:
            raise ServiceError("Seuls les emails en échec peuvent être renvoyés.")
        for email in failed:
            email.status = EmailStatus.PENDING.value
            email.attempts = 0
            email.next_attempt_at = utcnow()
            audit.record(session, actor, "email.retry", "email", email.id, f"{email.subject} → {email.recipient}")
        return len(failed)
