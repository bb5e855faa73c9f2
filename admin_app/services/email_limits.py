"""Bounds on the emails that third parties can make the product send.

Anyone may fill the public request form, from as many addresses as they have: limits per IP do not
stop them from making the product write, again and again, to one person (a manager told of each
request, the address typed into the form, an account holder asked to confirm a claim, a forgotten
password). These bounds are per recipient address and per establishment (SIRET), per hour and per
day, counted in the database inside the caller's transaction: every web worker sees the same counts,
Redis or not. Over a bound the email is simply not queued: the visitor's answer does not change (it
must not tell), and the suppression is audited once per burst.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from models import AccountRequest, AuditEvent, OutboundEmail, utcnow

from . import audit
from .common import SYSTEM

# Emails about an account request, which the request's author chooses to cause.
REQUEST_KINDS = ("request_received", "request_notification", "confirm_attachment")
# Links to an account's mailbox; bounded when a visitor asks for them (the forgotten-password form).
LINK_KINDS = ("verify_email", "set_password")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SUPPRESSED = "email.suppressed"

# One key for every check: two requests checked at once would both see the count below the bound.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"mes-utilisateurs/email-limits").digest()[:8], "big") >> 1


def _serialise(session: Session) -> None:
    """Make concurrent checks wait for each other until their transactions end.

    PostgreSQL: a transaction-level advisory lock. SQLite: writes are serialised already; flushing the
    caller's pending rows (the request, its audit entry) takes the write lock before counting."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))


def _over(counts: tuple[int | None, int | None], per_hour: int, per_day: int) -> str | None:
    """The bound that `counts` (last hour, last day) reached, in French, or None."""
    last_hour, last_day = (n or 0 for n in counts)
    if last_hour >= per_hour:
        return f"{per_hour} par heure"
    if last_day >= per_day:
        return f"{per_day} par jour"
    return None


def _suppress(session: Session, label: str, kind: str, bound: str) -> None:
    """Audit a suppression, once per hour and label: a burst of a thousand leaves one entry, not a thousand."""
    already = session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == SUPPRESSED, AuditEvent.target_type == "email", AuditEvent.target_label == label,
        AuditEvent.created_at >= utcnow() - HOUR,
    ).limit(1))
    if already is None:
        audit.record(session, SYSTEM, SUPPRESSED, "email", None, label, None, {"email": kind, "limite": bound})


def _literal(text: str) -> str:
    """`text` matched as itself in a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def same_mailbox(column, recipient: str):
    """The addresses that reach `recipient`'s mailbox: itself and its sub-addresses (local+tag@domain), which
    most mail servers deliver to local@domain. Addresses are stored lower-cased (models.rules.clean_email)."""
    local, _, domain = recipient.partition("@")
    base = local.split("+", 1)[0]
    return or_(column == f"{base}@{domain}", column.like(f"{_literal(base)}+%@{_literal(domain)}", escape="\\"))


def _within(session: Session, moment, where: list, bounds: str, label: str, kind: str) -> bool:
    """Whether the rows `where` selects, counted over the last hour and day of `moment`, stay under the bounds
    EMAIL_LIMIT_<bounds>_HOUR and _DAY; a suppression is audited under `label`."""
    _serialise(session)
    now = utcnow()
    counts = session.execute(select(func.sum(case((moment >= now - HOUR, 1), else_=0)), func.count())
                             .where(*where, moment >= now - DAY)).one()
    config = current_app.config
    bound = _over(tuple(counts), config[f"EMAIL_LIMIT_{bounds}_HOUR"], config[f"EMAIL_LIMIT_{bounds}_DAY"])
    if bound is None:
        return True
    _suppress(session, label, kind, bound)
    return False


def recipient_allows(session: Session, recipient: str, kind: str, kinds: tuple[str, ...] = REQUEST_KINDS) -> bool:
    """Whether one more email of `kinds` may be queued for `recipient` (EMAIL_LIMIT_RECIPIENT_HOUR and _DAY)."""
    return _within(session, OutboundEmail.created_at,
                   [same_mailbox(OutboundEmail.recipient, recipient), OutboundEmail.kind.in_(kinds)],
                   "RECIPIENT", recipient, kind)


def establishment_allows(session: Session, request: AccountRequest, kind: str) -> bool:
    """Whether the requests naming this request's SIRET, filed in the last hour and day before it, leave room
    for its emails (EMAIL_LIMIT_SIRET_HOUR and _DAY)."""
    return _within(session, AccountRequest.requested_at,
                   [AccountRequest.siret == request.siret, AccountRequest.id != request.id],
                   "SIRET", f"SIRET {request.siret}", kind)


def allows(session: Session, recipient: str, kind: str, request: AccountRequest) -> bool:
    """Both bounds of an email about a request: its establishment's, then its recipient's."""
    return establishment_allows(session, request, kind) and recipient_allows(session, recipient, kind)
