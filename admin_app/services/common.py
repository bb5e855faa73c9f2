"""What every service shares: who acts, and how a refusal is reported."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from models import InvalidValue, User
from models.wording import user_label

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
    """Who performs a change: a logged-in user, or the system (CLI, worker) when None.

    What they may do is not a property of the actor: ask `admin_app.authority.perimeter_of(session, actor)`.
    """

    user: User | None = None
    ip: str | None = None

    @property
    def id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def label(self) -> str:
        if self.user is None:
            return "Système"
        return user_label(self.user)


SYSTEM = Actor()


@contextlib.contextmanager
def transaction(session: Session) -> Iterator[None]:
    """Run a service's body as one transaction: commit on success, roll back on any error.

    Services call each other (approving a request creates a user): only the outermost block commits,
    so the whole operation stays one transaction. A context manager rather than a decorator, so that
    the body stays an ordinary function (mutation testing, for one, leaves decorated functions alone).
    """
    if session.info.get("in_service"):
        yield
        return
    session.info["in_service"] = True
    try:
        _begin_writing(session)
        yield
        session.commit()
    except (IntegrityError, StaleDataError) as exc:
        session.rollback()
        raise ServiceError(conflict_message(exc)) from None
    except OperationalError as exc:
        session.rollback()
        if not lost_a_race(exc):
            raise
        raise ServiceError(CONFLICT) from None
    except ObjectDeletedError:
        session.rollback()
        raise ServiceError(GONE) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info["in_service"] = False


def _begin_writing(session: Session) -> None:
    """On SQLite, take the database's one write lock before the service reads anything (BEGIN IMMEDIATE).

    pysqlite opens a transaction only at the first INSERT or UPDATE: a service's checks would otherwise read
    before it, outside the lock, and another writer could commit between a check and the write it allows.
    (PostgreSQL's services lock the rows they decide on instead: services.locks.)
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


GONE = "Cet enregistrement n'existe plus : quelqu'un l'a supprimé entre-temps. Rien n'a été enregistré."
EMAIL_TAKEN = "Cette adresse email est déjà utilisée par un autre utilisateur."
CONFLICT = (
    "Quelqu'un d'autre a modifié ces données en même temps que vous : rien n'a été enregistré. "
    "Rechargez la page pour voir leur état actuel, puis refaites votre modification."
)


def violated_constraint(exc: IntegrityError) -> str:
    """The name (PostgreSQL) or the columns (SQLite) of the constraint a statement broke."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name or str(exc.orig)


def lost_a_race(exc: OperationalError) -> bool:
    """A deadlock or a serialization failure (PostgreSQL's 40P01, 40001), or SQLite's write lock still held by
    another writer when its busy timeout ran out: the other transaction won."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001") or "database is locked" in str(exc.orig)


def conflict_message(exc: IntegrityError | StaleDataError) -> str:
    """What to tell a person whose change lost a race: only the email's own unique constraint is
    "email déjà utilisée"; anything else (the same establishment added twice at once, a row changed
    meanwhile) is a conflict."""
    if isinstance(exc, IntegrityError):
        constraint = violated_constraint(exc)
        if constraint in ("uq_users_email", "users_email_key") or "users.email" in constraint:
            return EMAIL_TAKEN
    return CONFLICT


def checked(field: str, clean: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a models.rules cleaner; its InvalidValue becomes a ServiceError on `field`."""
    try:
        return clean(*args, **kwargs)
    except InvalidValue as exc:
        raise ServiceError(str(exc), field=field) from None
