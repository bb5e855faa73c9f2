"""Undo of a large operation as a background job (admin_app/jobs/undo.py): the same result as the synchronous
undo (users restored, those changed since or now out of scope left alone and counted, one undo operation, one
audit entry written when the job ends); the whole-operation checks and the mark at its start; each chunk locks
and decides on its own users; a cancel before the first chunk leaves the operation undoable again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select, update

from admin_app.jobs import runner
from admin_app.services import ServiceError
from admin_app.services import bulk as bulk_service
from admin_app.services import operations as op_service
from admin_app.services import undo as undo_service
from admin_app.services.jobs import UndoUnderWay, start_undo_job
from models import Grant, Habilitation, Job, JobStatus, Operation, OperationItem, User
from models.operations import OperationState

from . import factories as f
from .factories import MANAGER, count, events

H = Habilitation


@pytest.fixture
def cast(session):
    """Site A: a Gestionnaire and 8 active users; site B; staff."""
    site_a, site_b = f.establishment(session, name="A"), f.establishment(session, name="B")
    staff = f.user(session, staff=True, name="Staff")
    manager = f.user(session, [(site_a, MANAGER)], name="Gestionnaire")
    users = [f.user(session, [(site_a, [H.REPORTING])], name=f"Actif {f._letters(i)}") for i in range(8)]
    session.commit()
    return SimpleNamespace(site_a=site_a, site_b=site_b, staff=staff, manager=manager, users=users)


def states(session, users) -> dict[int, bool]:
    session.expire_all()
    return {u.id: session.get(User, u.id).active for u in users}


def deactivated(session, who, users) -> int:
    """Deactivate `users` at once, as `who`: the operation's id."""
    return bulk_service.set_active(session, f.actor(who), [u.id for u in users], False).operation_id


def reload(session, model, id_):
    session.expire_all()
    return session.get(model, id_)


def test_the_job_restores_the_users_chunk_by_chunk_and_records_one_undo(session, cast, small_chunks):
    operation_id = deactivated(session, cast.staff, cast.users)
    job = start_undo_job(session, f.actor(cast.staff), operation_id)
    assert job.status == JobStatus.QUEUED.value and not any(states(session, cast.users).values())  # nothing yet
    assert reload(session, Operation, operation_id).undone_at is None  # marked when the job starts

    assert runner.run_job(job.id) == JobStatus.DONE.value
    job = reload(session, Job, job.id)
    assert job.done == job.total == 8
    assert all(states(session, cast.users).values())
    operation = session.get(Operation, operation_id)
    assert operation.undone_at is not None and operation.undone_by_id == cast.staff.id
    (undo_op,) = session.scalars(select(Operation).where(Operation.undo_of_id == operation_id))
    assert (undo_op.kind, undo_op.job_id, undo_op.state) == ("undo", job.id, OperationState.DONE.value)
    assert (undo_op.requested, undo_op.changed, undo_op.unchanged, undo_op.refused) == (8, 8, 0, 0)
    assert job.cursor["operation"] == undo_op.id
    items = session.scalars(select(OperationItem).where(OperationItem.operation_id == operation_id)).all()
    assert all(item.undone for item in items)
    restored = session.scalars(select(OperationItem).where(OperationItem.operation_id == undo_op.id)).all()
    assert {(i.user_id, i.active_before, i.active_after) for i in restored} == {(u.id, False, True) for u in cast.users}
    (entry,) = events(session, "operation.undo")  # one Historique line, written when the job ended
    assert (entry.target_id, entry.actor_id) == (undo_op.id, cast.staff.id)
    assert entry.after == {"active": True, "restored": 8}
    assert entry.target_label == f"Annulation de l'opération n° {operation_id} : 8 utilisateurs rétablis"


def test_users_changed_since_or_now_out_of_scope_are_left_alone_and_counted(session, cast, small_chunks):
    operation_id = deactivated(session, cast.manager, cast.users)
    changed, moved = cast.users[2], cast.users[5]
    session.execute(update(User).where(User.id == changed.id).values(active=True, version=User.version + 1))
    # `moved` now belongs to site B only: outside the Gestionnaire's perimeter.
    session.execute(update(Grant).where(Grant.user_id == moved.id).values(establishment_id=cast.site_b.id))
    session.commit()

    job = start_undo_job(session, f.actor(cast.manager), operation_id)
    assert runner.run_job(job.id) == JobStatus.DONE.value
    (undo_op,) = session.scalars(select(Operation).where(Operation.undo_of_id == operation_id))
    assert (undo_op.changed, undo_op.unchanged, undo_op.refused) == (6, 1, 1)
    assert states(session, cast.users) == {u.id: u.id != moved.id for u in cast.users}
    (entry,) = events(session, "operation.undo")
    assert entry.after == {"active": True, "restored": 6, "changed_since": 1, "out_of_scope": 1}


def test_every_chunk_locks_and_decides_on_its_own_users(session, cast, small_chunks, monkeypatch):
    operation_id = deactivated(session, cast.staff, cast.users)
    decided = []
    original = undo_service.decide_on

    def spy(session_, actor, user_ids=()):
        decided.append(sorted(user_ids))
        return original(session_, actor, user_ids)

    monkeypatch.setattr(undo_service, "decide_on", spy)
    job = start_undo_job(session, f.actor(cast.staff), operation_id)
    assert runner.run_job(job.id) == JobStatus.DONE.value
    ids = sorted(u.id for u in cast.users)
    # The whole operation's checks on the actor alone (their row locked), then one decision per chunk of three users
    assert decided == [[], ids[0:3], ids[3:6], ids[6:8]]


def test_what_the_undo_refuses_whole_is_refused_before_any_job(session, cast, small_chunks):
    operation_id = deactivated(session, cast.staff, cast.users)
    with pytest.raises(ServiceError, match="Seul son auteur, ou le staff"):
        start_undo_job(session, f.actor(cast.manager), operation_id)
    with pytest.raises(ServiceError, match="Cette opération n'existe pas"):
        start_undo_job(session, f.actor(cast.staff), 987654)
    undo_service.undo(session, f.actor(cast.staff), operation_id)
    with pytest.raises(ServiceError, match="déjà été annulée"):
        start_undo_job(session, f.actor(cast.staff), operation_id)
    assert count(session, Job) == 0


def test_a_second_start_names_the_undo_under_way(session, cast, small_chunks):
    operation_id = deactivated(session, cast.staff, cast.users)
    job = start_undo_job(session, f.actor(cast.staff), operation_id)
    with pytest.raises(UndoUnderWay) as refused:
        start_undo_job(session, f.actor(cast.staff), operation_id)
    assert refused.value.job_id == job.id and count(session, Job) == 1


def test_the_checks_run_again_when_the_job_starts(session, cast, small_chunks):
    """Undone at once while the job waited: the job fails with the French reason and changes nobody."""
    operation_id = deactivated(session, cast.staff, cast.users)
    job = start_undo_job(session, f.actor(cast.staff), operation_id)
    undo_service.undo(session, f.actor(cast.staff), operation_id)
    session.execute(update(User).where(User.id.in_([u.id for u in cast.users])).values(active=False))
    session.commit()

    assert runner.run_job(job.id) == JobStatus.FAILED.value
    assert reload(session, Job, job.id).error == undo_service.ALREADY_UNDONE
    assert count(session, Operation, Operation.job_id == job.id) == 0
    assert not any(states(session, cast.users).values())


def test_the_deactivation_of_oneself_is_refused_before_the_first_chunk(session, cast, small_chunks):
    """Undoing an activation that included the undoer: refused whole, as at once; the operation stays undoable."""
    other = f.user(session, staff=True, active=False, name="Autre staff")
    session.commit()
    operation_id = bulk_service.set_active(session, f.actor(cast.staff), [other.id, *[u.id for u in cast.users]],
                                           True).operation_id
    job = start_undo_job(session, f.actor(other), operation_id)

    assert runner.run_job(job.id) == JobStatus.FAILED.value
    assert reload(session, Job, job.id).error == "Vous ne pouvez pas vous désactiver vous-même. Aucun utilisateur n'a été modifié."
    assert reload(session, Operation, operation_id).undone_at is None
    assert count(session, Operation, Operation.undo_of_id == operation_id) == 0
    assert reload(session, User, other.id).active and all(states(session, cast.users).values())


def test_cancelled_before_its_first_chunk_the_operation_may_be_undone_again(session, cast, small_chunks, monkeypatch):
    operation_id = deactivated(session, cast.staff, cast.users)
    job = start_undo_job(session, f.actor(cast.staff), operation_id)
    real_prepare = runner.HANDLERS[job.kind].prepare

    def prepare_then_cancel(session_, job_, actor, perimeter):
        real_prepare(session_, job_, actor, perimeter)
        job_.cancel_requested = True  # asked while the first transaction ran: the job stops before any chunk

    monkeypatch.setattr(runner.HANDLERS[job.kind], "prepare", prepare_then_cancel)
    assert runner.run_job(job.id) == JobStatus.CANCELLED.value
    assert reload(session, Job, job.id).cursor["operation"] is None  # the empty undo operation is gone
    assert reload(session, Operation, operation_id).undone_at is None
    assert count(session, Operation, Operation.undo_of_id == operation_id) == 0
    assert not any(states(session, cast.users).values())
    monkeypatch.undo()
    assert undo_service.undo(session, f.actor(cast.staff), operation_id).restored == 8


def test_cancelled_midway_the_undo_says_how_far_it_got(session, cast, small_chunks, monkeypatch):
    operation_id = deactivated(session, cast.staff, cast.users)
    job = start_undo_job(session, f.actor(cast.staff), operation_id)
    real_chunk = runner.HANDLERS[job.kind].chunk

    def chunk_then_cancel(session_, job_, actor, perimeter, size):
        done = real_chunk(session_, job_, actor, perimeter, size)
        job_.cancel_requested = job_.done >= 3
        return done

    monkeypatch.setattr(runner.HANDLERS[job.kind], "chunk", chunk_then_cancel)
    assert runner.run_job(job.id) == JobStatus.CANCELLED.value
    (undo_op,) = session.scalars(select(Operation).where(Operation.undo_of_id == operation_id))
    assert (undo_op.state, undo_op.changed) == (OperationState.CANCELLED.value, 3)
    assert op_service.summary(undo_op) == (f"Annulation de l'opération n° {operation_id} : 3 utilisateurs rétablis "
                                           "(interrompue, tâche annulée)")
    assert sum(states(session, cast.users).values()) == 3
    assert reload(session, Operation, operation_id).undone_at is not None  # what was restored stays restored
    (entry,) = events(session, "operation.undo")
    assert entry.after == {"active": True, "restored": 3}


def test_an_operation_gone_stops_the_job(session, cast, small_chunks):
    operation_id = deactivated(session, cast.staff, cast.users)
    job = start_undo_job(session, f.actor(cast.staff), operation_id)
    session.execute(delete(Operation).where(Operation.id == operation_id))
    session.commit()
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    assert reload(session, Job, job.id).error == undo_service.NOT_FOUND
