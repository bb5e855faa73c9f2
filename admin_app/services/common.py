"""What every service shares: who acts, and how a refusal is reported."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from models import InvalidValue, User
from models.habilitations import managed_establishment_ids, manager_establishment_ids

P = ParamSpec("P")
R = TypeVar("R")


class ServiceError(Exception):
    """A refused operation; `message` is French and can be shown as is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Actor:
    """Who performs a change: a logged-in user, or the system (CLI, worker) when None."""

    user: User | None = None
    ip: str | None = None

    @property
    def id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def is_unrestricted(self) -> bool:
        """Staff and the system act everywhere; a client manager only on their establishments."""
        return self.user is None or bool(self.user.is_staff)

    @property
    def managed_ids(self) -> frozenset[int] | None:
        """Establishments this actor may manage users on; None means all of them."""
        return None if self.is_unrestricted else managed_establishment_ids(self.user)

    @property
    def manager_ids(self) -> frozenset[int] | None:
        """Establishments where this actor may grant Gestionnaire; None means all of them."""
        return None if self.is_unrestricted else manager_establishment_ids(self.user)

    @property
    def label(self) -> str:
        if self.user is None:
            return "Système"
        return f"{self.user.full_name} <{self.user.email}>"


SYSTEM = Actor()


def transactional(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a service in one transaction: commit on success, roll back on any error.

    Services call each other (approving a request creates a user): only the
    outermost call commits, so the whole operation stays one transaction.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session: Session = args[0]  # type: ignore[assignment]  # a Session or Flask-SQLAlchemy's scoped one
        if session.info.get("in_service"):
            return fn(*args, **kwargs)
        session.info["in_service"] = True
        try:
            result = fn(*args, **kwargs)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.info["in_service"] = False

    return wrapper


def checked(field: str, clean: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a models.rules cleaner; its InvalidValue becomes a ServiceError on `field`."""
    try:
        return clean(*args, **kwargs)
    except InvalidValue as exc:
        raise ServiceError(str(exc), field=field) from None
