"""Write audit entries; every service calls this in the transaction of its change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from models import AuditEvent, utcnow

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


def record_many(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    targets: Iterable[tuple[int, str]],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> int:
    """Insert one audit entry per (id, label) target with a single set-based INSERT."""
    now = utcnow()
    rows = [
        {
            "created_at": now,
            "actor_id": actor.id,
            "actor_label": actor.label,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "target_label": label,
            "before": _jsonable(before),
            "after": _jsonable(after),
            "ip": actor.ip,
        }
        for target_id, label in targets
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)
    return len(rows)


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the fields whose value changed, for a readable history."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
