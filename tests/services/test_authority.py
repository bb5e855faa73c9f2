"""The governing table: actor x target x action, each cell called on the services directly.

Companies: ONE has establishments A, A2 (A's twin: the establishment a Rattachement asks for) and B;
OTHER has C. "on A" for an actor means on A and A2, so a claim on A2 stays inside their perimeter.
Each cell builds its own small cast, calls the service, and checks the database: an allowed action
changed what it says, a refused one raised a French ServiceError and changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from admin_app.authority import UserAction, perimeter_of
from admin_app.services import ServiceError
from admin_app.services import bulk as bulk_service
from admin_app.services import requests as request_service
from admin_app.services import users as user_service
from admin_app.services.users import GrantInput
from models import (
    AccountRequest,
    AuditEvent,
    Company,
    Establishment,
    Grant,
    Habilitation,
    RequestKind,
    RequestStatus,
    User,
)

from . import factories as f

H = Habilitation


@dataclass
class World:
    a: object
    a2: object
    b: object
    c: object
    actors: dict
    targets: dict


def build(session) -> World:
    one, other = f.company(session, "ONE"), f.company(session, "OTHER")
    a, a2, b = f.establishment(session, one, "A"), f.establishment(session, one, "A2"), f.establishment(session, one, "B")
    c = f.establishment(session, other, "C")
    actors = {
        "staff": f.user(session, staff=True),
        "manager on A": f.user(session, [(a, f.MANAGER), (a2, f.MANAGER)]),
        "manager on A and B": f.user(session, [(a, f.MANAGER), (a2, f.MANAGER), (b, f.MANAGER)]),
        "user admin on A": f.user(session, [(a, f.USER_ADMIN), (a2, f.USER_ADMIN)]),
        "funding on A": f.user(session, [(a, [H.FUNDING]), (a2, [H.FUNDING])]),
        "manager on C": f.user(session, [(c, f.MANAGER)]),
    }
    f.user(session, staff=True)  # a second staff account: deactivating one is never "the last staff"
    targets = {
        "staff": f.user(session, staff=True),
        "manager on A": f.user(session, [(a, f.MANAGER)]),
        "manager on A and B": f.user(session, [(a, f.MANAGER), (b, f.MANAGER)]),
        "user on A": f.user(session, [(a, [H.REPORTING])]),
        "user on A and C": f.user(session, [(a, [H.REPORTING]), (c, [H.PAYMENTS])]),
    }
    session.commit()
    return World(a, a2, b, c, actors, targets)


TARGETS = ["staff", "manager on A", "manager on A and B", "user on A", "user on A and C"]
Y, N = True, False

# actor -> action -> the expected answer for each target, in TARGETS' order.
TABLE = {
    "staff": {
        "see": [Y, Y, Y, Y, Y], "identity": [Y, Y, Y, Y, Y], "address": [Y, Y, Y, Y, Y], "grants on A": [Y, Y, Y, Y, Y],
        "link": [Y, Y, Y, Y, Y],
        "activate": [Y, Y, Y, Y, Y], "deactivate": [Y, Y, Y, Y, Y], "delete": [Y, Y, Y, Y, Y], "claim": [Y, Y, Y, Y, Y],
    },
    "manager on A": {
        "see": [N, Y, Y, Y, Y], "identity": [N, Y, N, Y, N], "address": [N, Y, N, Y, N], "grants on A": [N, Y, Y, Y, Y],
        "link": [N, Y, N, Y, N],
        "activate": [N, Y, N, Y, N], "deactivate": [N, Y, N, Y, N], "delete": [N, Y, N, Y, N], "claim": [N, Y, Y, Y, Y],
    },
    "manager on A and B": {
        "see": [N, Y, Y, Y, Y], "identity": [N, Y, Y, Y, N], "address": [N, Y, Y, Y, N], "grants on A": [N, Y, Y, Y, Y],
        "link": [N, Y, Y, Y, N],
        "activate": [N, Y, Y, Y, N], "deactivate": [N, Y, Y, Y, N], "delete": [N, Y, Y, Y, N], "claim": [N, Y, Y, Y, Y],
    },
    # "grants on A" replaces Données des reporting by Prise en charge: neither is theirs to give (the permission
    # boundary, whose own table is below); what they hold on A, they may still give (test_grant_boundary_table).
    "user admin on A": {
        # A new address would hand over the user on A, who holds Données des reporting, which they do not hold.
        "see": [N, Y, Y, Y, Y], "identity": [N, N, N, Y, N], "address": [N, N, N, N, N], "grants on A": [N, N, N, N, N],
        "link": [N, N, N, Y, N],
        "activate": [N, N, N, Y, N], "deactivate": [N, N, N, Y, N], "delete": [N, N, N, Y, N], "claim": [N, Y, Y, Y, Y],
    },
    "funding on A": {action: [N] * 5 for action in
                     ("see", "identity", "address", "grants on A", "link", "activate", "deactivate", "delete", "claim")},
    "manager on C": {
        "see": [N, N, N, N, Y], "identity": [N] * 5, "address": [N] * 5, "grants on A": [N] * 5, "link": [N] * 5,
        "activate": [N] * 5, "deactivate": [N] * 5, "delete": [N] * 5, "claim": [N] * 5,
    },
}

CELLS = [(actor, action, target, expected)
         for actor, actions in TABLE.items()
         for action, answers in actions.items()
         for target, expected in zip(TARGETS, answers, strict=True)]


def state(session, user_id: int):
    """What a refused action must leave untouched: the user, their grants, the audit trail, the requests."""
    session.expire_all()
    user = session.get(User, user_id)
    row = None if user is None else (user.email, user.last_name, user.active, user.link_nonce, user.version)
    grants = sorted(tuple(g.flags().items()) + (g.establishment_id, g.is_primary)
                    for g in session.scalars(select(Grant).where(Grant.user_id == user_id)))
    return (row, grants, session.scalar(select(func.count(AuditEvent.id))),
            tuple(session.scalars(select(AccountRequest.status).order_by(AccountRequest.id))))


def do(session, world: World, actor, action: str, target: User):
    """Perform one action through its service; return a check of what it must have changed."""
    if action == "see":
        decision = perimeter_of(session, actor).may(UserAction.SEE, target)
        if not decision:
            raise ServiceError(decision.reason)
        return lambda: True
    if action == "identity":
        user_service.update_user(session, actor, target, target.version, {
            "civility": target.civility, "last_name": "RENOMMÉ", "first_name": target.first_name,
            "email": target.email, "phone": target.phone, "job_title": target.job_title})
        return lambda: session.get(User, target.id).last_name == "RENOMMÉ"
    if action == "address":  # hands the account over to whoever reads the new mailbox
        user_service.update_user(session, actor, target, target.version, {
            "civility": target.civility, "last_name": target.last_name, "first_name": target.first_name,
            "email": f"new.{target.email}", "phone": target.phone, "job_title": target.job_title})
        return lambda: session.get(User, target.id).pending_email == f"new.{target.email}"
    if action == "grants on A":
        rows = [GrantInput(g.establishment_id, g.is_primary, g.habilitations)
                for g in perimeter_of(session, actor).visible_grants(target) if g.establishment_id != world.a.id]
        rows.append(GrantInput(world.a.id, not any(r.is_primary for r in rows) and not _primary_hidden(session, actor, target),
                               {H.FUNDING}))
        user_service.save_grants(session, actor, target, rows)
        return lambda: session.scalar(select(Grant.funding).where(Grant.user_id == target.id, Grant.establishment_id == world.a.id)) \
            and not session.scalar(select(Grant.manager).where(Grant.user_id == target.id, Grant.establishment_id == world.a.id))
    if action == "link":
        target.password_hash = None
        session.commit()
        sent, _ = bulk_service.resend_invitations(session, actor, [target.id])
        return lambda: sent == 1
    if action == "activate":
        target.active = False
        session.commit()
        bulk_service.set_active(session, actor, [target.id], True)
        return lambda: session.get(User, target.id).active
    if action == "deactivate":
        bulk_service.set_active(session, actor, [target.id], False)
        return lambda: not session.get(User, target.id).active
    if action == "delete":
        target_id = target.id
        bulk_service.delete_users(session, actor, [target_id])
        return lambda: session.get(User, target_id) is None
    if action == "claim":
        claim = AccountRequest(civility="Mme", last_name=target.last_name, first_name=target.first_name, email=target.email,
                               phone=target.phone, company_name="ONE", siret=world.a2.siret,
                               kind=RequestKind.ATTACHMENT.value, status=RequestStatus.PENDING.value,
                               user_id=target.id)  # as its holder's confirmation left it
        session.add(claim)
        session.commit()
        outcome = request_service.approve_many(session, actor, [claim.id])
        if not outcome.done:
            raise ServiceError(outcome.skipped[0][1])
        return lambda: session.scalar(select(Grant.id).where(Grant.user_id == target.id, Grant.establishment_id == world.a2.id))
    raise AssertionError(action)


def _primary_hidden(session, actor, target) -> bool:
    perimeter = perimeter_of(session, actor)
    return any(g.is_primary and not perimeter.contains(g.establishment_id) for g in target.grants)


@pytest.mark.parametrize("actor_name, action, target_name, expected", CELLS)
def test_governing_table(session, actor_name, action, target_name, expected):
    world = build(session)
    actor = f.actor(world.actors[actor_name])
    target = world.targets[target_name]
    if action == "claim":
        before = None
    else:
        before = state(session, target.id)
    try:
        changed = do(session, world, actor, action, target)
    except ServiceError as refusal:
        assert not expected, f"refused: {refusal.message}"
        assert len(refusal.message) > 20  # a French sentence, shown as is
        if before is not None and action not in ("link", "activate"):  # those two set the stage first
            assert state(session, target.id) == before
        if action == "claim":
            assert session.scalar(select(Grant.id).where(Grant.user_id == target.id, Grant.establishment_id == world.a2.id)) is None
        return
    assert expected, "allowed, but the table says no"
    session.expire_all()
    assert changed()


def test_the_sql_and_python_forms_of_the_governing_rule_agree(session):
    world = build(session)
    world.targets["staff on A"] = f.user(session, [(world.a, [H.REPORTING])], staff=True)
    world.targets["nowhere"] = f.user(session)  # no grant at all: nobody delegated sees it
    world.targets["user admin on A"] = f.user(session, [(world.a, f.USER_ADMIN)])
    session.commit()
    for actor in world.actors.values():
        perimeter = perimeter_of(session, f.actor(actor))
        ungoverned = set(session.scalars(select(User.id).where(perimeter.ungoverned_users())))
        visible = set(session.scalars(select(User.id).where(perimeter.users())))
        for target in world.targets.values():
            assert (target.id in ungoverned) == (not perimeter.governs(target)), (actor.email, target.email)
            assert (target.id in visible) == perimeter.sees(target)


def test_an_inactive_delegated_administrator_administers_nothing(session):
    world = build(session)
    luke = world.actors["manager on A"]
    luke.active = False
    session.commit()
    perimeter = perimeter_of(session, f.actor(luke))
    assert not perimeter.administers_users and not perimeter.governs(world.targets["user on A"])
    with pytest.raises(ServiceError):
        bulk_service.set_active(session, f.actor(luke), [world.targets["user on A"].id], False)


def test_who_decides_which_requests(session):
    world = build(session)

    def request(siret: str, status: RequestStatus) -> AccountRequest:
        made = AccountRequest(civility="M.", last_name="Solo", first_name="Han", email=f"han.{siret}.{status}@example.org",
                              phone="0611223344", company_name="X", siret=siret, kind=RequestKind.OPENING.value,
                              status=status.value)
        session.add(made)
        return made

    on_a, on_c = request(world.a.siret, RequestStatus.PENDING), request(world.c.siret, RequestStatus.PENDING)
    waiting = request(world.a.siret, RequestStatus.UNCONFIRMED)
    session.commit()

    def seen_by(name: str) -> set[int]:
        perimeter = perimeter_of(session, f.actor(world.actors[name]))
        return set(session.scalars(select(AccountRequest.id).where(perimeter.requests())))

    assert seen_by("staff") == {on_a.id, on_c.id}  # everything but what waits for its holder
    assert seen_by("manager on A") == seen_by("user admin on A") == {on_a.id}
    assert seen_by("manager on C") == {on_c.id}
    assert seen_by("funding on A") == set()
    staff = perimeter_of(session, f.actor(world.actors["staff"]))
    assert staff.may_decide(on_c, world.c.id) and not staff.may_decide(waiting, world.a.id)
    luke = perimeter_of(session, f.actor(world.actors["manager on A"]))
    assert luke.may_decide(on_a, world.a.id) and not luke.may_decide(on_c, world.c.id) and not luke.may_decide(on_a, None)


def test_what_each_perimeter_reaches(session):
    world = build(session)
    everyone = {e.id for e in (world.a, world.a2, world.b, world.c)}

    def reach(name: str):
        perimeter = perimeter_of(session, f.actor(world.actors[name]))
        establishments = set(session.scalars(select(Establishment.id).where(perimeter.establishments())))
        companies = set(session.scalars(select(Company.name).where(perimeter.companies())))
        grants = set(session.scalars(select(Grant.establishment_id).where(perimeter.grants())))
        return perimeter, establishments, companies, grants

    staff, establishments, companies, grants = reach("staff")
    assert staff.unrestricted and staff.administers_users and staff.actor_id == world.actors["staff"].id
    assert establishments == everyone and companies == {"ONE", "OTHER"} and grants == everyone
    assert staff.may_give(world.c.id, {H.MANAGER}) and staff.may_change_reference_data()
    luke, establishments, companies, grants = reach("manager on A")
    assert establishments == grants == {world.a.id, world.a2.id} and companies == {"ONE"}
    assert luke.establishment_ids == {world.a.id, world.a2.id} and luke.actor_id == world.actors["manager on A"].id
    assert luke.may_give(world.a.id, {H.MANAGER}) and not luke.may_give(world.b.id, {H.FUNDING})
    assert not luke.may_change_reference_data()
    obiwan = reach("user admin on A")[0]
    assert obiwan.may_give(world.a.id, {H.USER_ADMIN, H.FUNDING}) and not obiwan.may_give(world.a.id, {H.MANAGER})
    nobody = reach("funding on A")[0]
    assert not nobody.administers_users and nobody.establishment_ids == frozenset()
    assert not nobody.may_claim(world.targets["user on A"]) and not nobody.may_create(staff=False)
    assert not nobody.may_change_grant(world.targets["user on A"], world.a.id, None, {H.FUNDING})


def test_what_a_delegated_administrator_sees_of_a_user_from_elsewhere(session):
    world = build(session)
    luke = perimeter_of(session, f.actor(world.actors["manager on A"]))
    shared = world.targets["user on A and C"]
    assert [g.establishment_id for g in luke.visible_grants(shared)] == [world.a.id]
    assert luke.hides_grants_of(shared) and not luke.hides_grants_of(world.targets["user on A"])
    labels = {world.a.label}
    snapshot = {world.a.label: {"principal": True}, world.c.label: {"principal": False}}
    assert luke.redact_grant_snapshot(snapshot, labels) == {world.a.label: {"principal": True}}
    assert luke.redact_grant_snapshot(None, labels) is None
    staff = perimeter_of(session, f.actor(world.actors["staff"]))
    assert staff.redact_grant_snapshot(snapshot, labels) == snapshot and not staff.hides_grants_of(shared)

    def listed(perimeter, column) -> dict[int, object]:
        return dict(session.execute(select(User.id, column)).all())

    managers = listed(luke, luke.is_manager_column())
    assert managers[world.targets["manager on A"].id] and not managers[world.targets["user on A and C"].id]
    primaries = listed(luke, luke.primary_establishment_column())
    assert primaries[world.targets["user on A"].id] == f"A {world.a.siret}"
    on_c_first = f.user(session, [(world.c, [H.PAYMENTS]), (world.a, [H.REPORTING])])
    session.commit()
    assert listed(luke, luke.primary_establishment_column())[on_c_first.id] is None  # another company's: not shown
    assert listed(staff, staff.primary_establishment_column())[on_c_first.id] == f"C {world.c.siret}"


def test_the_perimeter_of_the_system_and_of_an_inactive_or_staff_account(session):
    world = build(session)
    system = perimeter_of(session, f.actor(None))
    assert system.unrestricted and system.actor_id is None
    gone = world.actors["staff"]
    gone.active = False
    session.commit()
    inactive = perimeter_of(session, f.actor(gone))
    assert not inactive.unrestricted and not inactive.administers_users and inactive.actor_id == gone.id


def test_what_someone_started_is_followed_by_its_author_and_staff_only():
    """Jobs and operations (their pages, progress, files, undo) ask `may_follow` / `followed`."""
    from sqlalchemy import select as _select

    from admin_app.authority import Perimeter
    from models import Job
    from models.habilitations import Habilitation as _H

    manager = Perimeter(actor_id=5, unrestricted=False, held={1: frozenset({_H.MANAGER})})
    staff = Perimeter(actor_id=9, unrestricted=True)
    assert manager.may_follow(5) and not manager.may_follow(6) and not manager.may_follow(None)
    assert staff.may_follow(6) and staff.may_follow(None)
    assert "jobs.actor_id = " in str(_select(Job.id).where(manager.followed(Job.actor_id)))
    assert "actor_id" not in str(_select(Job.id).where(staff.followed(Job.actor_id)).whereclause)


# --- the permission boundary: actor x target x habilitation ---------------------------------------------
# Each actor gives, removes, or creates a user with, one habilitation on A. Y: allowed; N: refused, nothing changed.
BOUNDARY_ACTORS = {
    "staff": None,
    "manager on A": f.MANAGER,
    "user admin on A": f.USER_ADMIN,
    "user admin + sensitive data on A": (H.USER_ADMIN, H.SENSITIVE_DATA),
    "portal user on A": (H.FUNDING, H.SENSITIVE_DATA),
}
BOUNDARY_TARGETS = ["bare grant on A: give it", "holds it on A: remove it", "new user on A with it"]
# actor -> the habilitations they may give, remove, or create a user with, on A.
MAY_TOUCH = {
    "staff": set(H),
    "manager on A": set(H),
    "user admin on A": {H.USER_ADMIN},
    "user admin + sensitive data on A": {H.USER_ADMIN, H.SENSITIVE_DATA},
    "portal user on A": set(),  # administers nothing: A is not in their perimeter
}
BOUNDARY_CELLS = [(actor, target, habilitation, habilitation in MAY_TOUCH[actor])
                  for actor in BOUNDARY_ACTORS for target in BOUNDARY_TARGETS for habilitation in H]


@pytest.mark.parametrize("actor_name, target_name, habilitation, expected", BOUNDARY_CELLS)
def test_grant_boundary_table(session, actor_name, target_name, habilitation, expected):
    a = f.establishment(session, f.company(session, "ONE"), "A")
    held = BOUNDARY_ACTORS[actor_name]
    actor = f.actor(f.user(session, staff=True) if held is None else f.user(session, [(a, held)]))
    target = None
    if target_name != "new user on A with it":
        target = f.user(session, [(a, [habilitation] if target_name.startswith("holds") else [])])
    session.commit()
    answer = perimeter_of(session, actor).may_change_grant(
        target, a.id, None if target is None else (f.NONE if target_name.startswith("bare") else [habilitation]),
        f.NONE if target_name.startswith("holds") else [habilitation])
    assert bool(answer) == expected and (habilitation in perimeter_of(session, actor).grantable(a.id)) == expected
    users, before = f.count(session, User), None if target is None else state(session, target.id)
    try:
        if target is None:
            user_service.create_user(session, actor, {"civility": "M.", "last_name": "Nouveau", "first_name": "Compte",
                                                      "email": "nouveau.compte@example.org", "phone": "0611223344"},
                                     [GrantInput(a.id, True, {habilitation})])
        else:
            user_service.save_grants(session, actor, target, [GrantInput(a.id, True, set() if target_name.startswith("holds")
                                                                         else {habilitation})])
    except ServiceError as refusal:
        assert not expected, f"refused: {refusal.message}"
        # The one French reason the editor shows (an actor administering nothing is stopped before, by may_create).
        assert refusal.message == answer.reason or actor_name == "portal user on A"
        assert f.count(session, User) == users and (target is None or state(session, target.id) == before)
        return
    assert expected, "allowed, but the boundary says no"
    session.expire_all()
    given = session.scalar(select(getattr(Grant, habilitation.value)).join(User).where(
        Grant.establishment_id == a.id, User.id == target.id if target else User.email == "nouveau.compte@example.org"))
    assert given is (not target_name.startswith("holds"))
