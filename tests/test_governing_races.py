"""The governing check holds under concurrency, on SQLite and PostgreSQL (services.locks).

Each race is played deterministically: another administrator's save has written and holds its transaction open;
the delegated administrator's action starts meanwhile (it reads, decides, and waits for the lock), then the save
commits. The action must be decided on the state the save committed — refused — never on the state it read
before. (Before the locking rule it stood: on PostgreSQL its check kept the snapshot from before the wait, on
SQLite it ran before the transaction took the write lock.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from admin_app.extensions import db as app_db
from admin_app.services import Actor, ServiceError
from admin_app.services import bulk as bulk_service
from admin_app.services import users as user_service
from admin_app.services.users import GrantInput
from models import Grant, User
from models.habilitations import Habilitation as H

from .services import factories as f
from .threads import JOIN_TIMEOUT


def wait_until_blocked(engine, seconds: float = 5.0) -> None:
    """Until a session waits for a lock (PostgreSQL), or a moment (SQLite: the waiter sits in its busy handler)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.4)
        return
    deadline = time.monotonic() + seconds
    with engine.connect() as probe:
        while time.monotonic() < deadline:
            waiting = probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND datname = current_database()")).scalar()
            probe.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the action never waited for the save's lock")


def race(app, engine, save: Callable[[Session], None], action: Callable[[Session], object]) -> list[BaseException]:
    """`save` writes in a transaction held open until `action`, started meanwhile, waits; then it commits.
    Returns what `action` raised (a ServiceError is its refusal)."""
    saved, outcome = threading.Event(), []

    def first():
        with app.app_context(), Session(bind=engine) as session:
            session.info["in_service"] = True  # the services' commit is this test's, once the action waits
            save(session)
            session.flush()
            saved.set()
            wait_until_blocked(engine)
            session.info["in_service"] = False
            session.commit()

    def second():
        saved.wait(JOIN_TIMEOUT)
        with app.app_context(), Session(bind=engine) as session:
            try:
                action(session)
            except BaseException as exc:
                outcome.append(exc)

    threads = [threading.Thread(target=first, daemon=True), threading.Thread(target=second, daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    return outcome


@pytest.fixture
def cast(app, db):
    """Temple (A) with its Gestionnaire Luke-like manager, an Obi-Wan-like « Gestion des utilisateurs » holder,
    staff, a target Zed with Prise en charge on A only, and another company's establishment B."""
    session = db.session
    a, b = f.establishment(session), f.establishment(session)
    staff = f.user(session, staff=True)
    user_admin = f.user(session, [(a, [H.USER_ADMIN, H.FUNDING])])
    zed = f.user(session, [(a, [H.FUNDING])])
    session.commit()
    return type("Cast", (), {"a": a.id, "b": b.id, "staff": staff.id, "user_admin": user_admin.id, "zed": zed.id})


def user(session, user_id) -> User:
    return session.get(User, user_id)


def make_manager(cast):
    def save(session):
        user_service.save_grants(session, Actor(user(session, cast.staff)), user(session, cast.zed),
                                 [GrantInput(cast.a, True, {H.MANAGER})])
    return save


def attach_elsewhere(cast):
    def save(session):
        user_service.save_grants(session, Actor(user(session, cast.staff)), user(session, cast.zed),
                                 [GrantInput(cast.a, True, {H.FUNDING}), GrantInput(cast.b, False, set())])
    return save


def revoke_the_actor(cast):
    def save(session):
        user_service.save_grants(session, Actor(user(session, cast.staff)), user(session, cast.user_admin),
                                 [GrantInput(cast.a, True, {H.FUNDING})])
    return save


def deactivate(cast):
    return lambda session: bulk_service.set_active(session, Actor(user(session, cast.user_admin)), [cast.zed], False)


def delete(cast):
    return lambda session: bulk_service.delete_users(session, Actor(user(session, cast.user_admin)), [cast.zed])


def remove_funding(cast):
    return lambda session: user_service.save_grants(session, Actor(user(session, cast.user_admin)),
                                                    user(session, cast.zed), [GrantInput(cast.a, True, set())])


RACES = [
    ("deactivate while made Gestionnaire", deactivate, make_manager),
    ("delete while attached to another company", delete, attach_elsewhere),
    ("deactivate while attached to another company", deactivate, attach_elsewhere),
    ("change grants while made Gestionnaire", remove_funding, make_manager),
    ("deactivate while the actor's own rights are revoked", deactivate, revoke_the_actor),
    ("delete while the actor's own rights are revoked", delete, revoke_the_actor),
]


@pytest.mark.parametrize("name, action, save", RACES, ids=[r[0] for r in RACES])
def test_the_action_is_decided_on_the_state_the_other_save_committed(app, db, cast, name, action, save):
    with app.app_context():
        engine = app_db.engine
    raised = race(app, engine, save(cast), action(cast))
    assert len(raised) == 1 and isinstance(raised[0], ServiceError), raised
    db.session.expire_all()
    zed = db.session.get(User, cast.zed)
    assert zed is not None and zed.active
    grants = {g.establishment_id: g for g in db.session.scalars(select(Grant).where(Grant.user_id == cast.zed))}
    assert cast.a in grants and grants[cast.a].funding  # the delegated action changed nothing
    assert grants[cast.a].manager or cast.b in grants or save is revoke_the_actor  # the other save stands


def test_without_a_race_the_same_action_is_allowed(app, db, cast):
    """The races' premise: on the state before the other save, the delegated administrator may act."""
    with app.app_context():
        bulk_service.set_active(app_db.session, Actor(app_db.session.get(User, cast.user_admin)), [cast.zed], False)
        app_db.session.remove()
    db.session.expire_all()
    assert not db.session.get(User, cast.zed).active
