"""A sweep of concurrent pairs of writing services on PostgreSQL: no action stands that the governing table refuses
for the state it ran on.

Each example (seeded, so every run plays the same ones) builds a small world — 2 or 3 establishments of 1 or 2
companies, staff, client users with random grants, Gestionnaires and « Gestion des utilisateurs » holders among
them — and two service calls by different actors (set_active, delete_users, save_grants, update_user,
activate_and_send_links, undo of an operation the actor made just before), released together by a barrier, each in
its own thread and session. Every commit is recorded, in commit order, with the state it leaves: read in its own
transaction just before its COMMIT, while no other commit may slip in between.

The property: each commit's effects, as the database shows them (users deleted, activated or deactivated, their
identity changed, grants added, changed or removed), are allowed by the authority model (admin_app.authority: a
`Perimeter`, `governs`, `may_change_grant`) evaluated on the state the previous commit left — the world as built,
for the first. The serial order is the commit order; the effects are those written, not those asked for.

SQLite serialises every writing service (BEGIN IMMEDIATE): there is no interleaving to sweep there.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from admin_app.authority import Perimeter, everything
from admin_app.extensions import db as app_db
from admin_app.services import Actor, ServiceError
from admin_app.services import bulk as bulk_service
from admin_app.services import undo as undo_service
from admin_app.services import users as user_service
from admin_app.services.users import GrantInput
from models import Grant, User
from models.habilitations import SPECIFIC_HABILITATIONS, Habilitation, administering, implied

from .databases import ON_POSTGRES
from .services import factories as f
from .threads import run_together

postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL=postgresql+psycopg://...: "
                                   "SQLite serialises every writing service, there is no interleaving to sweep")

SEED, EXAMPLES = 23, 100
H = Habilitation
IDENTITY = ("civility", "last_name", "first_name", "email", "phone", "job_title", "pending_email")


# --- the state the governing table reads ------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """One user as the authority model sees them; `grants`: establishment id -> (ticked flags, primary)."""

    active: bool
    is_staff: bool
    identity: tuple
    grants: dict[int, tuple[frozenset[Habilitation], bool]]


State = dict[int, Person]


def read_state(session: Session, user_ids: list[int]) -> State:
    """The world's users as this transaction sees them (deleted ones absent)."""
    grants: dict[int, dict[int, tuple[frozenset[Habilitation], bool]]] = {}
    for grant in session.scalars(select(Grant).where(Grant.user_id.in_(user_ids))):
        flags = frozenset(h for h in Habilitation if getattr(grant, h.value))
        grants.setdefault(grant.user_id, {})[grant.establishment_id] = (flags, grant.is_primary)
    return {user.id: Person(user.active, user.is_staff, tuple(getattr(user, n) for n in IDENTITY), grants.get(user.id, {}))
            for user in session.scalars(select(User).where(User.id.in_(user_ids)).execution_options(populate_existing=True))}


def perimeter_in(state: State, actor_id: int) -> Perimeter:
    """`authority.perimeter_of` evaluated on a recorded state: a deleted or inactive account administers nothing."""
    person = state.get(actor_id)
    if person is None or not person.active:
        return Perimeter(actor_id, unrestricted=False)
    if person.is_staff:
        return everything(actor_id)
    held, holds = {}, {}
    for establishment_id, (flags, _) in person.grants.items():
        if mine := administering(implied(flags)):
            held[establishment_id], holds[establishment_id] = mine, implied(flags)
    return Perimeter(actor_id, unrestricted=False, held=held, holds=holds)


def as_user(user_id: int, person: Person) -> User:
    """A transient User (never added to a session) for the authority model's predicates."""
    grants = [Grant(establishment_id=e, is_primary=primary, **{h.value: h in flags for h in Habilitation})
              for e, (flags, primary) in person.grants.items()]
    return User(id=user_id, is_staff=person.is_staff, grants=grants)


def shown(held: frozenset[Habilitation] | None) -> str:
    return "none" if held is None else "{" + ", ".join(sorted(h.value for h in held)) + "}"


def refused_effects(before: State, after: State, actor_id: int) -> list[str]:
    """The effects between two states that the governing table refuses `actor_id` on `before` (French reasons).
    A primary flag moved alone is left out: the editor's rule (the next establishment promoted when a manager
    detaches the user from all of theirs), not the table's."""
    perimeter, refused = perimeter_in(before, actor_id), []
    for user_id in sorted(before.keys() | after.keys()):
        old, new = before.get(user_id), after.get(user_id)
        if old is None:
            refused.append(f"user {user_id} appeared")
            continue
        target = as_user(user_id, old)
        changed = [what for what, moved in (("deleted", new is None),
                                             ("active", new is not None and new.active != old.active),
                                             ("identity", new is not None and new.identity != old.identity)) if moved]
        if changed and not (decision := perimeter.governs(target)):
            refused.append(f"user {user_id} {'+'.join(changed)}: {decision.reason}")
        if new is None:
            continue
        for establishment_id in sorted(old.grants.keys() | new.grants.keys()):
            was, now = old.grants.get(establishment_id), new.grants.get(establishment_id)
            was_held, now_held = (implied(g[0]) if g else None for g in (was, now))
            if was_held == now_held:
                continue
            decision = perimeter.may_change_grant(target, establishment_id, was_held, now_held)
            if not decision:
                refused.append(f"user {user_id} grant on {establishment_id} {shown(was_held)} -> {shown(now_held)}: "
                               f"{decision.reason}")
    return refused


class CommitLog:
    """Each watched session's commits, in commit order, with the state each leaves. The state is read in the
    committing transaction after its last write; a lock held from that read to the end of the COMMIT keeps any
    other watched commit out of the window. Nothing waited for in the window takes a row lock (a plain SELECT,
    then COMMIT), so holding it never deadlocks against a transaction waiting for this one's rows."""

    def __init__(self, user_ids: list[int]) -> None:
        self.user_ids, self.entries = user_ids, []
        self._lock = threading.Lock()

    def watch(self, session: Session, name: int) -> None:
        def before_commit(session):
            session.flush()  # outside the lock: a flush may wait for another transaction's row lock
            self._lock.acquire()
            session.info["commit_log_holds"] = True
            self.entries.append((name, read_state(session, self.user_ids)))

        def release(session, failed: bool):
            if session.info.pop("commit_log_holds", False):
                if failed:
                    self.entries.pop()
                self._lock.release()

        event.listen(session, "before_commit", before_commit)
        event.listen(session, "after_commit", lambda s: release(s, False))
        event.listen(session, "after_rollback", lambda s: release(s, True))


# --- worlds and calls -------------------------------------------------------------------------------------------

@dataclass
class World:
    establishments: list[int]
    staff: list[int]
    clients: list[int]

    @property
    def users(self) -> list[int]:
        return self.staff + self.clients


def random_habilitations(rng: random.Random) -> set[Habilitation]:
    roll = rng.random()
    if roll < 0.3:
        return {H.MANAGER}
    others = {h for h in SPECIFIC_HABILITATIONS if h is not H.USER_ADMIN and rng.random() < 0.4}
    return others | {H.USER_ADMIN} if roll < 0.65 else others


def build_world(session: Session, rng: random.Random) -> World:
    companies = [f.company(session) for _ in range(rng.randint(1, 2))]
    places = [f.establishment(session, rng.choice(companies)) for _ in range(rng.randint(2, 3))]
    staff = [f.user(session, staff=True).id for _ in range(rng.randint(1, 2))]
    clients = [f.user(session, [(e, random_habilitations(rng)) for e in rng.sample(places, rng.choice((1, 1, 2)))],
                      active=rng.random() < 0.85).id for _ in range(rng.randint(4, 6))]
    session.commit()
    return World([e.id for e in places], staff, clients)


@dataclass
class Call:
    """One service call: `run(session, actor)` in the thread, after the barrier."""

    kind: str
    actor: int
    targets: list[int]
    detail: str = ""
    run: Callable[[Session, Actor], object] = field(default=lambda s, a: None, repr=False)
    prepare: Callable[[Session], None] = field(default=lambda s: None, repr=False)  # before the barrier

    def __str__(self) -> str:
        return f"{self.kind}(actor={self.actor}, targets={self.targets}{', ' + self.detail if self.detail else ''})"


def pick_actor(rng: random.Random, world: World, state: State, other: int | None) -> int:
    delegated = [u for u in world.clients if perimeter_in(state, u).held and u != other]
    plain = [u for u in world.clients if u not in delegated and u != other]
    staff = [u for u in world.staff if u != other]
    roll = rng.random()
    pool = staff if roll < 0.3 else delegated if roll < 0.9 else plain
    return rng.choice(pool or staff or delegated or plain)


def grant_rows(rng: random.Random, world: World, state: State, actor: int, user_id: int) -> list[GrantInput]:
    """Plausible editor rows for what `actor` sees of the user: one establishment added, removed or changed."""
    perimeter, person = perimeter_in(state, actor), state[user_id]
    visible = {e: set(flags) for e, (flags, _) in person.grants.items() if perimeter.contains(e)}
    kept_primary = any(primary for e, (_, primary) in person.grants.items() if e not in visible)
    mine = world.establishments if perimeter.unrestricted or rng.random() < 0.15 else sorted(perimeter.held)
    move = rng.choice(("add", "remove", "change"))
    if move == "add" and (free := [e for e in mine if e not in visible]):
        visible[rng.choice(free)] = random_habilitations(rng)
    elif move == "remove" and visible:
        visible.pop(rng.choice(sorted(visible)))
    elif visible:
        visible[rng.choice(sorted(visible))] = random_habilitations(rng)
    primary = next((e for e in visible if person.grants.get(e, (None, False))[1]), min(visible, default=None))
    return [GrantInput(e, not kept_primary and e == primary, held) for e, held in sorted(visible.items())]


def make_call(rng: random.Random, world: World, state: State, session: Session, other: Call | None) -> Call:
    actor = pick_actor(rng, world, state, other.actor if other else None)
    near = [other.actor, *other.targets] if other else []
    pool = [u for u in world.users if u in state]
    perimeter = perimeter_in(state, actor)
    governed = [u for u in pool if u != actor and perimeter.governs(as_user(u, state[u]))]

    def target() -> int:
        # Mostly users the actor may act on as the world stands, often the other call's actor or targets: so that
        # the calls overlap, and the state the other one commits decides.
        roll = rng.random()
        return rng.choice(near if near and roll < 0.45 else governed if governed and roll < 0.85 else pool)

    kind = rng.choices(("set_active", "delete", "save_grants", "update_user", "activate_links", "undo"),
                       weights=(3, 2, 3, 2, 1, 1))[0]
    if kind in ("set_active", "delete", "activate_links"):
        ids = sorted({target() for _ in range(rng.randint(1, 2))})
        if kind == "set_active":
            active = rng.random() < 0.4
            return Call(kind, actor, ids, f"active={active}",
                        run=lambda s, a: bulk_service.set_active(s, a, ids, active))
        service = bulk_service.delete_users if kind == "delete" else bulk_service.activate_and_send_links
        return Call(kind, actor, ids, run=lambda s, a: service(s, a, ids))
    if kind == "undo":
        # The operation to take back: one the actor made just before (refused or empty: nothing to undo, refused).
        ids = sorted({rng.choice(governed or pool) for _ in range(rng.randint(1, 2))})
        try:
            result = bulk_service.set_active(session, Actor(session.get(User, actor)), ids, not state[ids[0]].active)
            operation_id = result.operation_id or 0
        except ServiceError:
            operation_id = 0
        return Call(kind, actor, ids, f"operation={operation_id}",
                    run=lambda s, a: undo_service.undo(s, a, operation_id))
    user_id = target()
    loaded: dict[str, User] = {}

    def prepare(s: Session) -> None:
        loaded["user"] = s.get(User, user_id)
        loaded["version"] = loaded["user"].version

    if kind == "save_grants":
        rows = grant_rows(rng, world, state, actor, user_id)
        described = ", ".join(f"{r.establishment_id}{'*' if r.is_primary else ''}:{shown(r.habilitations)}" for r in rows)
        return Call(kind, actor, [user_id], f"rows=[{described}]",
                    run=lambda s, a: user_service.save_grants(s, a, loaded["user"], rows), prepare=prepare)
    first_name = f"Prénom {rng.choice(('alpha', 'beta', 'gamma', 'delta'))}"

    def update(s: Session, a: Actor):
        user = loaded["user"]
        data = {n: getattr(user, n) for n in IDENTITY[:-1]} | {"first_name": first_name}
        return user_service.update_user(s, a, user, loaded["version"], data)
    return Call(kind, actor, [user_id], first_name, run=update, prepare=prepare)


# --- the sweep --------------------------------------------------------------------------------------------------

def play(app, engine, world: World, calls: list[Call]) -> tuple[dict[int, str], CommitLog]:
    """Run the calls at once (own thread, own session each); return each one's outcome and the commit log."""
    log, outcomes = CommitLog(world.users), {}
    barrier = threading.Barrier(len(calls), timeout=30)

    def work(index: int, call: Call):
        def run():
            with app.app_context(), Session(bind=engine) as session:
                log.watch(session, index)
                actor = Actor(session.get(User, call.actor))
                call.prepare(session)
                barrier.wait()
                try:
                    call.run(session, actor)
                    outcomes[index] = "ok"
                except ServiceError as exc:
                    outcomes[index] = f"refused: {exc.message}"
        return run

    errors = run_together([work(i, c) for i, c in enumerate(calls)], barrier)
    assert not errors, errors  # anything but a French refusal would be a 500
    return outcomes, log


def sweep_one(app, db, engine, number: int) -> list[str]:
    """Play example `number`; return the effects that stood although the table refuses them."""
    rng = random.Random(SEED * 1_000 + number)
    with app.app_context():
        session = app_db.session
        world = build_world(session, rng)
        state = read_state(session, world.users)
        first = make_call(rng, world, state, session, None)
        second = make_call(rng, world, state, session, first)
        session.commit()
        start = read_state(session, world.users)
        app_db.session.remove()
    outcomes, log = play(app, engine, world, [first, second])
    calls = [first, second]
    story = f"example {number}: {calls[0]} -> {outcomes[0]}; {calls[1]} -> {outcomes[1]}; commits {[n for n, _ in log.entries]}"
    committed = [n for n, _ in log.entries]
    assert sorted(committed) == sorted(n for n, o in outcomes.items() if o == "ok"), story
    found, before = [], start
    for index, after in log.entries:
        actor = calls[index].actor
        found.extend(f"{story}\n  {calls[index].kind} by {actor}: {what}" for what in refused_effects(before, after, actor))
        before = after
    db.session.expire_all()
    assert read_state(db.session, world.users) == before, story  # no commit went unrecorded
    db.session.rollback()
    return found


@pytest.mark.postgres
@postgres_only
def test_no_concurrent_pair_stands_that_the_governing_table_refuses(app, db):
    with app.app_context():
        engine = app_db.engine
    found = []
    for number in range(EXAMPLES):
        found += sweep_one(app, db, engine, number)
    assert not found, f"{len(found)} effects stood that the table refuses:\n" + "\n".join(found[:20])


# --- what the sweep found -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["delegated administrator", "staff member"])
def test_an_actor_deactivated_meanwhile_administers_nothing(app, db, who):
    """The sweep's example 5 played in order, on both databases (it stood before services.locks read the actor afresh
    under its lock): the actor is loaded (as a request loads its current_user), another administrator's
    deactivation of the actor commits, then the actor's own call runs.
    (An actor deleted meanwhile is refused already: a delegated one's grants, read afresh, went with them, and
    what a staff member's call writes names an account that no longer exists: a conflict.)"""
    session = db.session
    a = f.establishment(session)
    staff = f.user(session, staff=True)
    actor = f.user(session, staff=True) if who == "staff member" else f.user(session, [(a, [H.USER_ADMIN])])
    zed = f.user(session, [(a, [H.FUNDING])])
    session.commit()
    staff_id, actor_id, zed_id = staff.id, actor.id, zed.id
    with app.app_context(), Session(bind=db.engine) as mine, Session(bind=db.engine) as theirs:
        acting = Actor(mine.get(User, actor_id))  # as a request loads its current_user, before any service
        bulk_service.set_active(theirs, Actor(theirs.get(User, staff_id)), [actor_id], False)
        with pytest.raises(ServiceError):
            bulk_service.set_active(mine, acting, [zed_id], False)
    session.expire_all()
    assert session.get(User, zed_id).active
