"""How a change that lost a race is told: a real unique-constraint failure from the database where SQLite can
produce one, and small stand-ins shaped like psycopg's errors (`diag.constraint_name`, `sqlstate`) for
PostgreSQL's answers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from admin_app.services import ServiceError
from admin_app.services.common import (
    CONFLICT,
    EMAIL_TAKEN,
    conflict_message,
    lost_a_race,
    transaction,
    violated_constraint,
)
from models import Grant, User

from . import factories


class PgError(Exception):
    """What psycopg raises: the message, plus `diag.constraint_name` and `sqlstate`."""

    def __init__(self, message: str, constraint: str | None = None, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.diag = SimpleNamespace(constraint_name=constraint)
        self.sqlstate = sqlstate


def pg_integrity(constraint: str | None, message: str = 'duplicate key value violates unique constraint') -> IntegrityError:
    return IntegrityError("INSERT ...", {}, PgError(message, constraint, "23505"))


def pg_operational(sqlstate: str | None) -> OperationalError:
    return OperationalError("UPDATE ...", {}, PgError("could not serialize access", sqlstate=sqlstate))


def real_integrity_error(session, insert_twice) -> IntegrityError:
    """The IntegrityError the database itself raises for a duplicate row."""
    with pytest.raises(IntegrityError) as caught:
        insert_twice()
        session.flush()
    session.rollback()
    return caught.value


def duplicate_email(session) -> IntegrityError:
    user = factories.user(session)
    session.commit()
    row = {"civility": "Mme", "last_name": "X", "first_name": "Y", "email": user.email, "phone": "+33612345678",
           "search_text": "", "session_token": "a", "link_nonce": "b", "version": 1}
    return real_integrity_error(session, lambda: session.execute(insert(User), [row]))


def duplicate_grant(session) -> IntegrityError:
    where = factories.establishment(session)
    user = factories.user(session, [(where, factories.NONE)])
    session.commit()
    return real_integrity_error(session, lambda: session.execute(insert(Grant), [{"user_id": user.id, "establishment_id": where.id}]))


# --- violated_constraint ----------------------------------------------------------------------------

def test_a_real_duplicate_email_is_told_by_the_database_itself(session):
    # SQLite names the columns ("users.email"), PostgreSQL the constraint ("uq_users_email").
    told = violated_constraint(duplicate_email(session))
    assert told == "uq_users_email" or "users.email" in told


def test_on_postgresql_the_constraint_is_told_by_its_name(session):
    assert violated_constraint(pg_integrity("uq_grants_user_establishment")) == "uq_grants_user_establishment"


def test_without_a_constraint_name_the_database_message_is_used():
    assert violated_constraint(pg_integrity(None, "null value in column")) == "null value in column"


def test_an_error_without_diagnostics_gives_its_message():
    assert violated_constraint(IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed: companies.siren"))) == (
        "UNIQUE constraint failed: companies.siren")


# --- lost_a_race ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_a_serialization_failure_is_a_lost_race(sqlstate):
    assert lost_a_race(pg_operational(sqlstate)) is True


@pytest.mark.parametrize("sqlstate", ["57014", "08006", "40p01", None])
def test_other_operational_errors_are_not_a_race(sqlstate):
    assert lost_a_race(pg_operational(sqlstate)) is False


def test_sqlite_s_write_lock_still_held_after_the_busy_timeout_is_a_lost_race():
    assert lost_a_race(OperationalError("UPDATE ...", {}, Exception("database is locked"))) is True


def test_another_sqlite_operational_error_has_no_sqlstate_and_is_not_a_race():
    assert lost_a_race(OperationalError("UPDATE ...", {}, Exception("no such table: users"))) is False


# --- conflict_message -------------------------------------------------------------------------------

def test_a_duplicate_email_in_sqlite_says_the_address_is_taken(session):
    assert conflict_message(duplicate_email(session)) == EMAIL_TAKEN


def test_a_duplicate_grant_in_sqlite_is_a_conflict(session):
    assert conflict_message(duplicate_grant(session)) == CONFLICT


@pytest.mark.parametrize("constraint", ["uq_users_email", "users_email_key"])
def test_postgresql_s_email_constraint_says_the_address_is_taken(constraint):
    assert conflict_message(pg_integrity(constraint)) == EMAIL_TAKEN


@pytest.mark.parametrize("constraint", ["uq_grants_user_establishment", "companies_siren_key", "ck_users_email_lowercase"])
def test_postgresql_s_other_constraints_are_a_conflict(constraint):
    assert conflict_message(pg_integrity(constraint, 'Key (email)=(x@example.org) — users.email')) == CONFLICT


def test_a_row_changed_meanwhile_is_a_conflict():
    assert conflict_message(StaleDataError("UPDATE statement on table 'users' expected to update 1 row(s); 0 were matched.")) == CONFLICT


def test_the_messages_are_french_and_say_what_to_do():
    assert EMAIL_TAKEN == "Cette adresse email est déjà utilisée par un autre utilisateur."
    assert "rien n'a été enregistré" in CONFLICT and "Rechargez la page" in CONFLICT


# --- transaction ------------------------------------------------------------------------------------

def test_a_duplicate_email_committed_in_a_service_is_refused_and_rolled_back(session):
    user = factories.user(session)
    session.commit()
    with pytest.raises(ServiceError) as refused, transaction(session):
        factories.user(session).email = user.email
    assert refused.value.message == EMAIL_TAKEN
    assert session.query(User).count() == 1


def test_a_lost_race_in_a_service_is_refused_as_a_conflict(session):
    with pytest.raises(ServiceError) as refused, transaction(session):
        raise pg_operational("40001")
    assert refused.value.message == CONFLICT


def test_any_other_operational_error_is_not_hidden(session):
    with pytest.raises(OperationalError), transaction(session):
        raise pg_operational("57014")
