"""`bulk_users`: one action (activate, deactivate...) on every matching user, a chunk of ids at a time.

Each chunk calls the action's service function with the chunk's ids inside the runner's transaction, so
the chunk's changes, their audit entries and the job's progress are committed together (the services'
own `transaction()` joins the outer one). Actions are registered by name by whoever owns the service:

    register_action("deactivate", lambda session, actor, ids: users.set_active(session, actor, ids, False))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Job, User

from ..authority import Perimeter
from ..services.common import Actor, ServiceError
from .export import NO_LONGER_ADMIN, SCOPE_CHANGED, criteria, scope_of

# (session, actor, ids of one chunk) -> how many were changed; raises ServiceError to refuse.
BulkAction = Callable[[Session, Actor, list[int]], object]
ACTIONS: dict[str, BulkAction] = {}
UNKNOWN_ACTION = "Cette action n'existe pas (ou plus) : la tâche a été arrêtée."


def register_action(name: str, action: BulkAction) -> None:
    ACTIONS[name] = action


def parameters(action: str, filter_args: Mapping[str, str], search: str | None = None) -> dict:
    from .export import parameters as list_parameters

    return {"action": action, **list_parameters(filter_args, search)}


class BulkUsers:
    """The runner's handler for JobKind.BULK_USERS: keyset on the id, so users the action takes out of
    the filter (deactivating "actif = oui") are neither skipped nor done twice."""

    def refusal(self, perimeter: Perimeter) -> str | None:
        return None if perimeter.administers_users else NO_LONGER_ADMIN

    def prepare(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter) -> None:
        if job.parameters.get("action") not in ACTIONS:
            raise ServiceError(UNKNOWN_ACTION)
        job.total = session.scalar(select(func.count()).select_from(User).where(*criteria(job.parameters, perimeter))) or 0
        job.cursor = {"after": 0, "scope": scope_of(perimeter)}

    def chunk(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter, size: int) -> bool:
        cursor = dict(job.cursor or {})
        if cursor.get("scope") != scope_of(perimeter):
            raise ServiceError(SCOPE_CHANGED)
        action = ACTIONS.get(job.parameters.get("action", ""))
        if action is None:
            raise ServiceError(UNKNOWN_ACTION)
        ids = list(session.scalars(
            select(User.id).where(*criteria(job.parameters, perimeter), User.id > cursor["after"]).order_by(User.id).limit(size)
        ))
        if not ids:
            return False
        action(session, actor, ids)
        cursor["after"] = ids[-1]
        job.cursor = cursor
        job.done += len(ids)
        return True

    def finish(self, session: Session, job: Job) -> None:
        job.total = job.done

    def discard(self, job: Job) -> None:
        pass  # every committed chunk stays done (and audited): a cancel stops the rest
