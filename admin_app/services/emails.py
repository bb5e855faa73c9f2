"""The outbox: queue emails with the change that causes them; deliver them later."""

from __future__ import annotations

import smtplib
import socket
import sys
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from flask import current_app, render_template
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from models import EmailStatus, OutboundEmail, User, utcnow
from models.accounts import new_session_token

from . import audit
from .common import SYSTEM, Actor, ServiceError, transactional
from .tokens import Purpose, make_token

PORTAL_NAME = "Mon compte DEFI"


def enqueue(session: Session, recipient: str, kind: str, subject: str, **context: Any) -> OutboundEmail:
    """Render templates/email/<kind>.txt and .html and add the email to the session."""
    context = {"portal_name": PORTAL_NAME, "subject": subject, **context}
    email = OutboundEmail(
        recipient=recipient,
        subject=subject,
        kind=kind,
        body_text=render_template(f"email/{kind}.txt", **context),
        body_html=render_template(f"email/{kind}.html", **context),
    )
    session.add(email)
    return email


def _link(endpoint_path: str, token: str) -> str:
    return f"{current_app.config['BASE_URL']}{endpoint_path}{token}"


def _expiry_text() -> str:
    hours = int(current_app.config["EMAIL_LINK_MAX_AGE"].total_seconds() // 3600)
    return f"{hours} heures"


def _enqueue_link(session: Session, user: User, purpose: Purpose, kind: str, subject: str, path: str) -> OutboundEmail:
    """Queue an email carrying a fresh signed link: renewing the nonce voids every older link."""
    user.link_nonce = new_session_token()
    session.flush()
    token = make_token(current_app.config["SECRET_KEY"], purpose, user)
    return enqueue(session, user.email, kind, subject, user=user, link=_link(path, token), expiry=_expiry_text())


def enqueue_verify_email(session: Session, user: User) -> OutboundEmail:
    """Queue "Validez votre adresse email"."""
    return _enqueue_link(session, user, Purpose.VERIFY_EMAIL, "verify_email", "Validez votre adresse email", "/account/verify/")


def enqueue_set_password(session: Session, user: User) -> OutboundEmail:
    """Queue "Créez votre mot de passe" (the link works once)."""
    return _enqueue_link(session, user, Purpose.SET_PASSWORD, "set_password", "Créez votre mot de passe", "/account/set-password/")


def enqueue_invitation(session: Session, user: User) -> OutboundEmail:
    """Send the email the user's state calls for: verify the address, else create a password."""
    if user.email_verified_at is None:
        return enqueue_verify_email(session, user)
    return enqueue_set_password(session, user)


# --- delivery -------------------------------------------------------------------------------------

def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** attempts, 60))


def _message(email: OutboundEmail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = email.subject
    msg["From"] = sender
    msg["To"] = email.recipient
    msg.set_content(email.body_text)
    if email.body_html:
        msg.add_alternative(email.body_html, subtype="html")
    return msg


def _send(msg: EmailMessage, config: dict[str, Any]) -> None:
    backend = config["MAIL_BACKEND"]
    if backend == "console":
        print(f"\n----- email -----\n{msg}\n-----------------", file=sys.stdout, flush=True)
        return
    if backend != "smtp":
        raise RuntimeError(f"MAIL_BACKEND={backend!r} cannot deliver; use 'smtp' or 'console'")
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)


def _claim(session: Session, worker: str, limit: int) -> list[int]:
    """Claim due emails for this worker; a claimed row is never sent by another worker."""
    now = utcnow()
    stale = now - timedelta(minutes=10)  # a worker that died mid-send releases its claim
    due = (
        select(OutboundEmail.id)
        .where(
            OutboundEmail.status == EmailStatus.PENDING.value,
            OutboundEmail.next_attempt_at <= now,
            or_(OutboundEmail.claimed_at.is_(None), OutboundEmail.claimed_at < stale),
        )
        .order_by(OutboundEmail.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        session.rollback()
        return []
    # The conditional UPDATE is the guard on SQLite too: only rows still unclaimed are taken.
    session.execute(
        update(OutboundEmail)
        .where(
            OutboundEmail.id.in_(ids),
            or_(OutboundEmail.claimed_at.is_(None), OutboundEmail.claimed_at < stale),
        )
        .values(claimed_by=worker, claimed_at=now)
    )
    session.commit()
    return list(session.scalars(select(OutboundEmail.id).where(OutboundEmail.id.in_(ids), OutboundEmail.claimed_by == worker)))


def deliver_pending(session: Session, worker: str | None = None, limit: int = 50) -> tuple[int, int]:
    """Send due emails; return (sent, failed attempts). Failures are retried with backoff."""
    config = current_app.config
    worker = worker or f"{socket.gethostname()}:{id(session)}"
    sent = failed = 0
    for email_id in _claim(session, worker, limit):
        email = session.get(OutboundEmail, email_id)
        if email is None or email.status != EmailStatus.PENDING.value:
            continue
        email.attempts += 1
        try:
            _send(_message(email, config["MAIL_DEFAULT_SENDER"]), config)
        except (OSError, smtplib.SMTPException, RuntimeError) as exc:
            failed += 1
            email.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            if email.attempts >= config["MAIL_MAX_ATTEMPTS"]:
                email.status = EmailStatus.FAILED.value
            else:
                email.next_attempt_at = utcnow() + _backoff(email.attempts)
        else:
            sent += 1
            email.status = EmailStatus.SENT.value
            email.sent_at = utcnow()
            email.last_error = None
            audit.record(session, SYSTEM, "email.sent", "email", email.id, f"{email.subject} → {email.recipient}")
        email.claimed_by = None
        email.claimed_at = None
        session.commit()
    return sent, failed


@transactional
def retry_failed(session: Session, actor: Actor, ids: list[int]) -> int:
    """Put failed emails back in the queue ("Renvoyer"); return how many."""
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
