"""The one locking rule of the writing services: decide on the state the write changes.

Every service that decides whether an actor may act on users starts with `decide_on(session, actor, user_ids)`:
1. the target users' rows are locked, in id order (FOR NO KEY UPDATE, as an UPDATE of them would), so two
   services acting on overlapping users wait for each other instead of deadlocking;
2. the actor's own row is locked FOR SHARE: a revocation of the actor's rights (a grant save on the actor,
   which locks that row like any grant save) waits for this service, or this service waits for it;
3. only then is the perimeter read, in a fresh statement, and the targets already loaded are expired, so the
   rule is evaluated on the committed state of everything the service is about to change.

Under PostgreSQL's READ COMMITTED each statement sees what was committed before it started: a check written in
the same statement as its lock (a subquery) would still see the state from before the wait. On SQLite the
service's transaction already holds the database's write lock (services.common.transaction): the row locks are
no-ops there and the order above changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from admin_app.authority import Perimeter, perimeter_of
from models import Grant, User
from models.ids import IdList, in_ids

from .common import Actor


def lock_users(session: Session, user_ids: Iterable[int] | IdList) -> None:
    """Lock these users' rows in id order until the end of the transaction (PostgreSQL; nothing on SQLite)."""
    ids = IdList.of(user_ids)
    if not ids:
        return
    session.execute(select(User.id).where(in_ids(User.id, ids)).order_by(User.id).with_for_update(key_share=True)).all()


def decide_on(session: Session, actor: Actor, user_ids: Iterable[int] | IdList = ()) -> Perimeter:
    """Lock the targets, then the actor's row, then read the actor's perimeter: see the module's docstring."""
    ids = IdList.of(user_ids)
    if session.get_bind().dialect.name != "sqlite":  # there the transaction holds the write lock already
        lock_users(session, ids)
        if actor.id is not None:
            session.execute(select(User.id).where(User.id == actor.id).with_for_update(read=True)).all()
    wanted = set(ids) | ({actor.id} if actor.id is not None else set())  # the actor's own flags read afresh too
    for instance in list(session.identity_map.values()):
        # Read from the identity map, never loading a row deleted since; what this very transaction changed and
        # has not flushed yet is current: kept.
        state = inspect(instance)
        if state.modified or not state.identity:
            continue
        if (isinstance(instance, User) and state.identity[0] in wanted) or \
                (isinstance(instance, Grant) and state.dict.get("user_id") in wanted):
            session.expire(instance)
    return perimeter_of(session, actor)
