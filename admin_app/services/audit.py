"""Write audit entries; every service calls this in the transaction of its change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, Integer, String, insert, literal, select
from sqlalchemy.orm import Session

from models import AuditEvent, User, utcnow
from models.types import UTCDateTime
from models.wording import user_label_sql

from .common import Actor


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    return out


def record(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | None,
    target_label: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit entry to the session (committed with the change it describes)."""
    event = AuditEvent(
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        before=_jsonable(before),
        after=_jsonable(after),
        ip=actor.ip,
    )
    session.add(event)
    return event


def record_for_users(
    session: Session,
    actor: Actor,
    action: str,
    where: ColumnElement[bool],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One audit entry per user matching `where`, written by the database in one INSERT ... SELECT.

    Bulk actions on thousands of users stay set-based: no row goes through Python.
    """
    label = user_label_sql()
    rows = select(
        literal(utcnow(), UTCDateTime()),
        literal(actor.id, Integer()),
        literal(actor.label, String()),
        literal(action, String()),
        literal("user", String()),
        User.id,
        label,
        literal(_jsonable(before), JSON()),
        literal(_jsonable(after), JSON()),
        literal(actor.ip, String()),
    ).where(where)
    columns = ["created_at", "actor_id", "actor_label", "action", "target_type", "target_id", "target_label", "before", "after", "ip"]
    session.execute(insert(AuditEvent).from_select(columns, rows))


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the fields whose value changed, for a readable history."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
