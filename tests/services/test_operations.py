"""Bulk actions as operations: one record per action with its counts, one item per user changed, one
audit entry; undo restores exactly what it changed, skips users changed since, expires, and is audited."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from admin_app.services import SYSTEM_ACTOR, ServiceError
from admin_app.services import bulk as bulk_service
from admin_app.services import operations as op_service
from admin_app.services import undo as undo_service
from admin_app.services import users as user_service
from models import Grant, Habilitation, Operation, OperationItem, OperationKind, User

from . import factories as f
from .factories import count, events

H = Habilitation


@pytest.fixture
def cast(session):
    """ONE company with A and B; staff, a second staff member, a Gestionnaire and a Gestion des utilisateurs on A."""
    one = f.company(session, "ONE")
    a, b = f.establishment(session, one, "A"), f.establishment(session, one, "B")
    staff, other_staff = f.user(session, staff=True), f.user(session, staff=True)
    manager = f.user(session, [(a, f.MANAGER)])
    user_admin = f.user(session, [(a, f.USER_ADMIN)])
    session.commit()
    return SimpleNamespace(a=a, b=b, staff=staff, other_staff=other_staff, manager=manager, user_admin=user_admin)


def people(session, where, active_flags):
    made = [f.user(session, [(where, [H.REPORTING])], active=flag) for flag in active_flags]
    session.commit()
    return made


def states(session, users) -> dict[int, bool]:
    session.expire_all()
    return {u.id: session.get(User, u.id).active for u in users}


def items(session, operation_id) -> dict[int, OperationItem]:
    return {i.user_id: i for i in session.scalars(select(OperationItem).where(OperationItem.operation_id == operation_id))}


# --- recording -------------------------------------------------------------------------------------

def test_a_bulk_deactivation_is_one_operation_with_both_counts_and_one_audit_entry(session, cast):
    active, inactive = people(session, cast.a, [True] * 3), people(session, cast.a, [False] * 2)
    ids = [u.id for u in active + inactive]

    result = bulk_service.set_active(session, f.actor(cast.manager), ids, False, scope="filtre : Actif : Oui")

    assert (result.requested, result.changed, result.unchanged, result.kind) == (5, 3, 2, OperationKind.DEACTIVATE)
    operation = session.get(Operation, result.operation_id)
    assert (operation.kind, operation.actor_id, operation.scope, operation.requested, operation.changed, operation.unchanged) == (
        "deactivate", cast.manager.id, "filtre : Actif : Oui", 5, 3, 2)
    recorded = items(session, operation.id)
    assert set(recorded) == {u.id for u in active}  # only the real changes
    for user in active:
        saved = session.get(User, user.id)
        assert (recorded[user.id].active_before, recorded[user.id].active_after) == (True, False)
        assert recorded[user.id].version_after == saved.version
    (entry,) = events(session, "user.deactivate")
    assert (entry.target_type, entry.target_id) == ("operation", operation.id)
    assert entry.target_label == "Désactivation de 3 utilisateurs — filtre : Actif : Oui"
    assert (entry.before, entry.after) == ({"active": True}, {"active": False, "requested": 5, "changed": 3, "unchanged": 2})
    assert count(session, type(entry)) == 1  # not one line per user


def test_nothing_changed_records_nothing(session, cast):
    inactive = people(session, cast.a, [False, False])
    result = bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in inactive], False)
    assert (result.operation_id, result.changed, result.unchanged, bool(result)) == (None, 0, 2, False)
    assert count(session, Operation) == 0 and events(session) == []


def test_the_default_scope_names_one_user_or_counts_the_selection(session, cast):
    one, *others = people(session, cast.a, [True, True, True])
    first = bulk_service.set_active(session, f.actor(cast.staff), [one.id], False)
    assert session.get(Operation, first.operation_id).scope == user_service.user_label(session.get(User, one.id))
    second = bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in others], False)
    assert session.get(Operation, second.operation_id).scope == "sélection de 2 utilisateurs"


def test_a_deletion_is_one_definitive_operation_keeping_each_label(session, cast):
    doomed = people(session, cast.a, [True, False])
    labels = {u.id: user_service.user_label(u) for u in doomed}
    result = bulk_service.delete_users(session, f.actor(cast.staff), list(labels))
    assert (result.changed, result.kind) == (2, OperationKind.DELETE)
    assert {i: item.user_label for i, item in items(session, result.operation_id).items()} == labels
    operation = session.get(Operation, result.operation_id)
    assert undo_service.undo_problem(session, f.actor(cast.staff), operation) == undo_service.DEFINITIVE
    with pytest.raises(ServiceError, match="définitive"):
        undo_service.undo(session, f.actor(cast.staff), operation.id)
    assert count(session, User, User.id.in_(list(labels))) == 0


def test_activate_and_send_links_records_activations_and_links(session, cast):
    inactive, active = people(session, cast.a, [False, False]), people(session, cast.a, [True])
    result = bulk_service.activate_and_send_links(session, f.actor(cast.staff), [u.id for u in inactive + active])
    assert (result.changed, result.unchanged, result.emails) == (2, 1, 3)
    recorded = items(session, result.operation_id)
    assert {i: (it.active_before, it.active_after) for i, it in recorded.items()} == {
        inactive[0].id: (False, True), inactive[1].id: (False, True), active[0].id: (True, True)}
    assert all(it.email_kind for it in recorded.values())
    assert all(it.version_after == session.get(User, i).version for i, it in recorded.items())

    undone = undo_service.undo(session, f.actor(cast.staff), result.operation_id)
    assert (undone.restored, undone.changed_since) == (2, 0)
    assert states(session, inactive + active) == {inactive[0].id: False, inactive[1].id: False, active[0].id: True}


# --- the selection: checked whole by the service (the view no longer counts it first) ------------------

@pytest.mark.parametrize("action", ["deactivate", "activate", "activate_links", "delete", "invite"])
def test_a_selection_naming_a_user_gone_since_changes_nobody(session, cast, action):
    """Ticked on a page drawn before someone deleted one of them (or a forged id): the person did not choose
    « the rest », so nothing is done, in French, whoever asks."""
    chosen = people(session, cast.a, [True, False])
    gone = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    gone_id = gone.id
    bulk_service.delete_users(session, f.actor(cast.staff), [gone_id])
    before = (count(session, Operation), len(events(session)), states(session, chosen))
    run = {
        "deactivate": lambda ids: bulk_service.set_active(session, f.actor(cast.manager), ids, False),
        "activate": lambda ids: bulk_service.set_active(session, f.actor(cast.manager), ids, True),
        "activate_links": lambda ids: bulk_service.activate_and_send_links(session, f.actor(cast.manager), ids),
        "delete": lambda ids: bulk_service.delete_users(session, f.actor(cast.manager), ids),
        "invite": lambda ids: bulk_service.resend_invitations(session, f.actor(cast.manager), ids),
    }[action]
    with pytest.raises(ServiceError, match=r"^1 utilisateur\(s\) sélectionné\(s\) hors de votre périmètre ou introuvable"):
        run([u.id for u in chosen] + [gone_id])
    assert (count(session, Operation), len(events(session)), states(session, chosen)) == before


def test_a_selection_outside_the_perimeter_is_refused_whole_with_the_count_of_strangers(session, cast):
    mine, theirs = people(session, cast.a, [True, True]), people(session, cast.b, [True])
    with pytest.raises(ServiceError, match=r"^1 utilisateur\(s\) sélectionné\(s\) hors de votre périmètre"):
        bulk_service.set_active(session, f.actor(cast.manager), [u.id for u in mine + theirs], False)
    assert all(states(session, mine + theirs).values()) and count(session, Operation) == 0
    with pytest.raises(ServiceError, match=r"^2 utilisateur\(s\)"):  # a stranger and an id that names nobody
        bulk_service.set_active(session, f.actor(cast.manager), [u.id for u in mine + theirs] + [10**6], False)


def test_an_id_given_twice_is_one_user(session, cast):
    one, two = people(session, cast.a, [True, True])
    result = bulk_service.set_active(session, f.actor(cast.manager), [one.id, two.id, one.id], False)
    assert (result.requested, result.changed) == (2, 2)


def test_a_jobs_chunk_skips_users_deleted_since_its_cursor_read_them(session, cast):
    """A job's chunk (given its operation) is not a person's selection: a user deleted between the chunk's read
    and its action is counted nowhere, the others are done."""
    chunk = people(session, cast.a, [True, True])
    operation = op_service.start(session, f.actor(cast.staff), OperationKind.DEACTIVATE, "filtre : Actif : Oui", job_id=None)
    result = bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in chunk] + [10**6], False, operation=operation)
    assert (result.requested, result.changed, result.unchanged) == (2, 2, 0)
    assert set(items(session, operation.id)) == {u.id for u in chunk}


def test_a_later_chunk_leaves_the_users_of_earlier_chunks_alone(session, cast):
    """Each chunk flips only the users its own items name: a user of an earlier chunk whom someone reactivated
    since is not deactivated again, nor given a second item."""
    first, second = people(session, cast.a, [True, True]), people(session, cast.a, [True, True])
    operation = op_service.start(session, f.actor(cast.staff), OperationKind.DEACTIVATE, "filtre", job_id=None)
    bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in first], False, operation=operation)
    bulk_service.set_active(session, f.actor(cast.other_staff), [first[0].id], True)  # reactivated meanwhile
    version = session.get(User, first[0].id).version
    bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in second], False, operation=operation)
    assert states(session, first + second) == {first[0].id: True, first[1].id: False, second[0].id: False, second[1].id: False}
    assert session.get(User, first[0].id).version == version
    assert set(items(session, operation.id)) == {u.id for u in first + second}


# --- undo ------------------------------------------------------------------------------------------

def test_undo_restores_exactly_the_users_it_changed(session, cast):
    """The issue's case: deactivating a filter where some were already inactive, then undoing, leaves
    those inactive (where « Activer » on the same filter would have activated them too)."""
    active, already = people(session, cast.a, [True] * 4), people(session, cast.a, [False] * 2)
    done = bulk_service.set_active(session, f.actor(cast.manager), [u.id for u in active + already], False)
    undone = undo_service.undo(session, f.actor(cast.manager), done.operation_id)

    assert (undone.restored, undone.changed_since, undone.out_of_scope) == (4, 0, 0)
    assert states(session, active + already) == {**{u.id: True for u in active}, **{u.id: False for u in already}}
    operation = session.get(Operation, done.operation_id)
    assert operation.undone_at is not None and operation.undone_by_id == cast.manager.id
    assert all(item.undone for item in items(session, operation.id).values())
    undo_op = session.get(Operation, undone.operation_id)
    assert (undo_op.kind, undo_op.undo_of_id, undo_op.changed) == ("undo", operation.id, 4)
    assert {i: (it.active_before, it.active_after) for i, it in items(session, undo_op.id).items()} == {
        u.id: (False, True) for u in active}
    (entry,) = events(session, "operation.undo")
    assert (entry.target_type, entry.target_id, entry.actor_id) == ("operation", undo_op.id, cast.manager.id)
    assert entry.after == {"active": True, "restored": 4}
    assert entry.target_label == f"Annulation de l'opération n° {operation.id} : 4 utilisateurs rétablis"


def test_undo_leaves_alone_and_counts_users_changed_since(session, cast):
    users = people(session, cast.a, [True] * 4)
    done = bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in users], False)
    # Someone else reactivates one, then deactivates it again: same state, but not the operation's doing.
    bulk_service.set_active(session, f.actor(cast.other_staff), [users[0].id], True)
    bulk_service.set_active(session, f.actor(cast.other_staff), [users[0].id], False)
    # And one is edited (its version moves) without changing `active`.
    session.execute(update(User).where(User.id == users[1].id).values(version=User.version + 1))
    session.commit()
    undone = undo_service.undo(session, f.actor(cast.staff), done.operation_id)
    assert (undone.restored, undone.changed_since) == (2, 2)
    assert states(session, users) == {users[0].id: False, users[1].id: False, users[2].id: True, users[3].id: True}
    assert session.get(Operation, undone.operation_id).unchanged == 2
    (entry,) = events(session, "operation.undo")
    assert entry.after == {"active": True, "restored": 2, "changed_since": 2}


def test_undo_skips_a_user_deleted_since(session, cast):
    users = people(session, cast.a, [True] * 2)
    done = bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in users], False)
    bulk_service.delete_users(session, f.actor(cast.staff), [users[0].id])
    undone = undo_service.undo(session, f.actor(cast.staff), done.operation_id)
    assert (undone.restored, undone.changed_since) == (1, 1)


def test_an_undo_is_refused_twice_and_changes_nothing_the_second_time(session, cast):
    users = people(session, cast.a, [True] * 2)
    done = bulk_service.set_active(session, f.actor(cast.staff), [u.id for u in users], False)
    undo_service.undo(session, f.actor(cast.staff), done.operation_id)
    bulk_service.set_active(session, f.actor(cast.staff), [users[0].id], False)  # a later, separate change
    with pytest.raises(ServiceError, match="déjà été annulée"):
        undo_service.undo(session, f.actor(cast.staff), done.operation_id)
    assert states(session, users) == {users[0].id: False, users[1].id: True}
    assert count(session, Operation, Operation.kind == "undo") == 1


def test_undo_expires_after_the_window(session, cast):
    users = people(session, cast.a, [True])
    done = bulk_service.set_active(session, f.actor(cast.staff), [users[0].id], False)
    operation = session.get(Operation, done.operation_id)
    operation.created_at -= timedelta(hours=25)
    session.commit()
    with pytest.raises(ServiceError, match="plus de 24 h"):
        undo_service.undo(session, f.actor(cast.staff), done.operation_id)
    assert states(session, users) == {users[0].id: False}
    # A longer window (OPERATION_UNDO_HOURS) lets it through.
    assert undo_service.undo(session, f.actor(cast.staff), done.operation_id, timedelta(hours=48)).restored == 1


@pytest.mark.parametrize("who", ["user_admin", "manager_of_b"])
def test_only_the_author_or_staff_undoes(session, cast, who):
    users = people(session, cast.a, [True, True])
    done = bulk_service.set_active(session, f.actor(cast.manager), [u.id for u in users], False)
    other = cast.user_admin if who == "user_admin" else f.user(session, [(cast.b, f.MANAGER)])
    session.commit()
    with pytest.raises(ServiceError, match="Seul son auteur"):
        undo_service.undo(session, f.actor(other), done.operation_id)
    assert states(session, users) == {u.id: False for u in users}
    # Staff may undo a manager's operation.
    assert undo_service.undo(session, f.actor(cast.staff), done.operation_id).restored == 2


def test_a_manager_cannot_undo_staffs_operation(session, cast):
    users = people(session, cast.a, [True])
    done = bulk_service.set_active(session, f.actor(cast.staff), [users[0].id], False)
    with pytest.raises(ServiceError, match="Seul son auteur"):
        undo_service.undo(session, f.actor(cast.manager), done.operation_id)
    assert states(session, users) == {users[0].id: False}


def test_undo_restores_only_users_the_author_still_governs(session, cast):
    stay, leave = people(session, cast.a, [True, True])
    done = bulk_service.set_active(session, f.actor(cast.user_admin), [stay.id, leave.id], False)
    # `leave` moves to B, outside the Gestion des utilisateurs' perimeter (grant edits do not bump the version).
    session.execute(update(Grant).where(Grant.user_id == leave.id).values(establishment_id=cast.b.id))
    session.commit()
    undone = undo_service.undo(session, f.actor(cast.user_admin), done.operation_id)
    assert (undone.restored, undone.changed_since, undone.out_of_scope) == (1, 0, 1)
    assert states(session, [stay, leave]) == {stay.id: True, leave.id: False}


def test_unknown_operation_and_undo_of_an_undo_are_refused(session, cast):
    with pytest.raises(ServiceError, match="n'existe pas"):
        undo_service.undo(session, f.actor(cast.staff), 987654)
    users = people(session, cast.a, [True])
    done = bulk_service.set_active(session, f.actor(cast.staff), [users[0].id], False)
    undone = undo_service.undo(session, f.actor(cast.staff), done.operation_id)
    with pytest.raises(ServiceError, match="ne peut pas être annulée à son tour"):
        undo_service.undo(session, f.actor(cast.staff), undone.operation_id)
    assert states(session, users) == {users[0].id: True}


def test_undoing_an_activation_ends_sessions_and_spares_the_last_staff(session, cast):
    users = people(session, cast.a, [False])
    done = bulk_service.set_active(session, SYSTEM_ACTOR, [users[0].id], True)
    token = session.get(User, users[0].id).session_token
    undo_service.undo(session, SYSTEM_ACTOR, done.operation_id)
    session.expire_all()
    saved = session.get(User, users[0].id)
    assert not saved.active and saved.session_token != token


def test_a_users_history_lists_the_operations_touching_them(session, cast):
    one, two = people(session, cast.a, [True, True])
    done = bulk_service.set_active(session, f.actor(cast.staff), [one.id, two.id], False)
    undo_service.undo(session, f.actor(cast.staff), done.operation_id)
    rows = op_service.user_items(session, one.id)
    assert [op.kind for op, _ in rows] == ["undo", "deactivate"]
