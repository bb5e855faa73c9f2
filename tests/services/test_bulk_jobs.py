"""Bulk actions run as background jobs: the whole job is ONE operation (items per user changed, counts, one
audit entry written when it ends, saying only what happened); a crash mid-job resumes without doing a user
twice; a cancel leaves an operation that says what was done; a delegated manager's job stays in their
perimeter; undoing the job's operation restores exactly its users."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from admin_app.jobs import bulk, runner
from admin_app.services import audit
from admin_app.services import bulk as bulk_service
from admin_app.services import operations as op_service
from admin_app.services import undo as undo_service
from admin_app.services.jobs import start_bulk_job
from models import AuditEvent, Habilitation, Job, JobStatus, Operation, OperationItem, OperationKind, User
from models.operations import OperationState

from ..jobs_helpers import Crash
from . import factories as f
from .factories import MANAGER, count, events

H = Habilitation




@pytest.fixture
def cast(session):
    """Site A (a Gestionnaire, 8 active and 4 inactive users), site B (5 active users), one user on both, staff."""
    site_a, site_b = f.establishment(session, name="A"), f.establishment(session, name="B")
    staff = f.user(session, staff=True, name="Staff")
    manager = f.user(session, [(site_a, MANAGER)], name="Gestionnaire")
    active_a = [f.user(session, [(site_a, [H.REPORTING])], name=f"Actif {f._letters(i)}") for i in range(8)]
    inactive_a = [f.user(session, [(site_a, [H.REPORTING])], active=False, name=f"Inactif {f._letters(i)}") for i in range(4)]
    theirs = [f.user(session, [(site_b, [H.REPORTING])], name=f"Actif B {f._letters(i)}") for i in range(5)]
    session.commit()
    return SimpleNamespace(site_a=site_a, site_b=site_b, staff=staff, manager=manager, active_a=active_a,
                           inactive_a=inactive_a, theirs=theirs, a=[*active_a, *inactive_a])


def states(session, users) -> dict[int, bool]:
    session.expire_all()
    return {u.id: session.get(User, u.id).active for u in users}


def items_of(session, operation_id: int) -> list[OperationItem]:
    return list(session.scalars(select(OperationItem).where(OperationItem.operation_id == operation_id)))


def job_operation(session, job: Job) -> Operation:
    (operation,) = session.scalars(select(Operation).where(Operation.job_id == job.id))
    return operation


def reload(session, job: Job) -> Job:
    session.expire_all()
    return session.get(Job, job.id)


# A filter that leaves the staff account and the Gestionnaire out: "Établissement : A", not staff, no Gestionnaire.
ON_A = {"etablissement": "A", "staff": "non"}


def test_a_job_is_one_operation_with_an_item_per_user_changed_and_one_audit_entry(session, cast, small_chunks):
    job = start_bulk_job(session, f.actor(cast.staff), "deactivate", ON_A)
    assert runner.run_job(job.id) == JobStatus.DONE.value
    job = reload(session, job)
    assert job.done == job.total == 13  # 8 active + 4 inactive + the Gestionnaire (not staff)

    operation = job_operation(session, job)  # one operation for the whole job, not one per chunk of 3
    assert count(session, Operation) == 1
    assert (operation.kind, operation.state, operation.actor_id) == ("deactivate", "done", cast.staff.id)
    assert operation.scope == "filtre : Établissement : « A » ; Staff : Non"
    assert (operation.requested, operation.changed, operation.unchanged) == (13, 9, 4)
    items = items_of(session, operation.id)
    assert {i.user_id for i in items} == {u.id for u in [*cast.active_a, cast.manager]}  # the users changed, once each
    assert all((i.active_before, i.active_after) == (True, False) for i in items)
    for item in items:
        assert item.version_after == session.get(User, item.user_id).version
    (entry,) = session.scalars(select(AuditEvent))  # ONE Historique line, written when the job ended
    assert (entry.action, entry.target_type, entry.target_id) == ("user.deactivate", "operation", operation.id)
    assert entry.target_label == "Désactivation de 9 utilisateurs — filtre : Établissement : « A » ; Staff : Non"
    assert entry.after == {"active": False, "requested": 13, "changed": 9, "unchanged": 4}
    assert bulk.result_of(job) == op_service.OperationResult(operation.id, OperationKind.DEACTIVATE, 13, 9, 4, 0)
    assert not any(states(session, cast.a).values()) and all(states(session, cast.theirs).values())


def test_activate_and_send_links_as_a_job_counts_links_and_activations(session, cast, small_chunks):
    job = start_bulk_job(session, f.actor(cast.staff), "activate_links", {"etablissement": "A", "habilitation": "reporting"})
    assert runner.run_job(job.id) == JobStatus.DONE.value
    operation = job_operation(session, reload(session, job))
    assert (operation.kind, operation.requested, operation.changed, operation.unchanged, operation.emails) == (
        "activate_links", 13, 4, 9, 13)  # reporting: everyone on A (the Gestionnaire has every habilitation)
    assert len(items_of(session, operation.id)) == 13
    assert len(events(session, "user.activate_links")) == 1
    assert all(states(session, cast.a).values())


def test_nothing_to_change_records_no_operation_but_the_job_says_what_was_already_so(session, cast, small_chunks):
    job = start_bulk_job(session, f.actor(cast.staff), "activate", {"etablissement": "B"})
    assert runner.run_job(job.id) == JobStatus.DONE.value
    job = reload(session, job)
    assert count(session, Operation) == 0 and events(session) == []  # as the synchronous action: nothing recorded
    result = bulk.result_of(job)
    assert (result.operation_id, result.requested, result.changed, result.unchanged) == (None, 5, 0, 5)


def test_a_crash_mid_job_then_the_resume_does_no_user_twice_and_counts_right(session, cast, small_chunks, app, monkeypatch):
    calls: list[list[int]] = []
    original = bulk_service.set_active

    def set_active_then_die(s, actor, ids, active, **kwargs):
        calls.append(list(ids))
        result = original(s, actor, ids, active, **kwargs)  # the chunk's users are changed in the session...
        if len(calls) == 3:
            raise Crash  # ...then the worker dies before the chunk's commit
        return result

    monkeypatch.setattr(bulk_service, "set_active", set_active_then_die)
    job = start_bulk_job(session, f.actor(cast.staff), "deactivate", ON_A)
    with pytest.raises(Crash):
        runner.run_job(job.id)
    session.rollback()
    job = reload(session, job)
    operation = job_operation(session, job)
    assert job.status == JobStatus.RUNNING.value and job.done == 6  # two chunks committed, the third rolled back
    assert (operation.state, operation.requested) == ("running", 6)
    assert len(items_of(session, operation.id)) == operation.changed
    assert events(session) == []  # no audit entry while the job runs: it will say how it ended

    monkeypatch.setitem(app.config, "JOB_LEASE_SECONDS", 0)  # the dead worker's lease has run out
    assert runner.run_job(job.id) == JobStatus.DONE.value
    job = reload(session, job)
    operation = job_operation(session, job)
    assert calls[3] == calls[2]  # the lost chunk was done again, once
    done_ids = [i for chunk in calls[:2] + calls[3:] for i in chunk]
    assert len(done_ids) == len(set(done_ids)) == 13  # no user twice
    assert (operation.requested, operation.changed, operation.unchanged, operation.state) == (13, 9, 4, "done")
    assert len(items_of(session, operation.id)) == 9 and count(session, Operation) == 1
    assert len(events(session, "user.deactivate")) == 1 and job.attempts == 2


def test_a_cancelled_job_leaves_an_operation_that_says_what_was_done(session, cast, small_chunks, monkeypatch):
    job = start_bulk_job(session, f.actor(cast.staff), "deactivate", ON_A)
    original = bulk.BulkUsers.chunk
    chunks = []

    def chunk_then_cancel(self, s, job, *args):
        more = original(self, s, job, *args)
        chunks.append(1)
        if len(chunks) == 2:
            s.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))  # the button, meanwhile
        return more

    monkeypatch.setattr(bulk.BulkUsers, "chunk", chunk_then_cancel)
    assert runner.run_job(job.id) == JobStatus.CANCELLED.value
    job = reload(session, job)
    operation = job_operation(session, job)
    assert job.done == 6 and operation.requested == 6 and operation.state == OperationState.CANCELLED.value
    assert operation.changed == len(items_of(session, operation.id)) and operation.changed + operation.unchanged == 6
    (entry,) = events(session, "user.deactivate")
    assert entry.target_label.endswith("(interrompue, tâche annulée)")
    assert entry.target_label.startswith(f"Désactivation de {operation.changed} utilisateur")
    assert entry.after["requested"] == 6 and entry.after["changed"] == operation.changed
    changed = {i.user_id for i in items_of(session, operation.id)}
    assert {k for k, active in states(session, cast.a).items() if not active} == {u.id for u in cast.inactive_a} | (
        changed & {u.id for u in cast.a})
    # The committed chunks stay done, and can be taken back.
    assert undo_service.undo_problem(session, f.actor(cast.staff), operation) is None


def test_a_failed_job_says_interrupted_with_the_counts_so_far(session, cast, small_chunks, monkeypatch):
    original, calls = bulk_service.set_active, []

    def fail_third(s, actor, ids, active, **kwargs):
        calls.append(ids)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return original(s, actor, ids, active, **kwargs)

    monkeypatch.setattr(bulk_service, "set_active", fail_third)
    job = start_bulk_job(session, f.actor(cast.staff), "deactivate", ON_A)
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    operation = job_operation(session, reload(session, job))
    assert (operation.state, operation.requested) == ("failed", 6)
    (entry,) = events(session, "user.deactivate")
    assert entry.target_label.endswith("(interrompue, échec de la tâche)") and entry.after["requested"] == 6


def test_a_running_operation_cannot_be_undone_yet(session, cast, small_chunks, app, monkeypatch):
    monkeypatch.setattr(bulk_service, "set_active", _dies_on_second_chunk(bulk_service.set_active))
    job = start_bulk_job(session, f.actor(cast.staff), "deactivate", ON_A)
    with pytest.raises(Crash):
        runner.run_job(job.id)
    session.rollback()
    operation = job_operation(session, reload(session, job))
    assert operation.running and "en cours" in op_service.summary(operation)
    assert undo_service.undo_problem(session, f.actor(cast.staff), operation) == undo_service.STILL_RUNNING


def _dies_on_second_chunk(original):
    calls = []

    def wrapped(s, actor, ids, active, **kwargs):
        calls.append(ids)
        if len(calls) == 2:
            raise Crash
        return original(s, actor, ids, active, **kwargs)

    return wrapped


def test_a_delegated_managers_job_touches_their_perimeter_only(session, cast, small_chunks):
    """The filter matches users of A and of B for staff; the Gestionnaire of A gets A's only, as synchronously."""
    wanted = {"nom": "actif", "actif": "oui"}
    matching_for_staff = select(func.count()).select_from(User).where(*bulk.criteria({"filter": wanted}, _staff_perimeter(session, cast)))
    assert session.scalar(matching_for_staff) == 13
    job = start_bulk_job(session, f.actor(cast.manager), "deactivate", wanted)
    assert runner.run_job(job.id) == JobStatus.DONE.value
    operation = job_operation(session, reload(session, job))
    assert {i.user_id for i in items_of(session, operation.id)} == {u.id for u in cast.active_a}
    assert all(states(session, cast.theirs).values())  # B untouched
    assert (operation.actor_id, operation.changed) == (cast.manager.id, 8)


def _staff_perimeter(session, cast):
    from admin_app.authority import perimeter_of

    return perimeter_of(session, f.actor(cast.staff))


def test_a_job_refuses_whole_what_the_synchronous_action_refuses_whole(session, cast, small_chunks):
    both = f.user(session, [(cast.site_a, [H.REPORTING]), (cast.site_b, [H.REPORTING])], name="Partout")
    session.commit()
    job = start_bulk_job(session, f.actor(cast.manager), "deactivate", {"etablissement": "A", "habilitation": "reporting"})
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    job = reload(session, job)
    assert "Vous ne pouvez pas désactiver 1 des utilisateurs choisis" in job.error and "Aucun utilisateur" in job.error
    assert count(session, Operation) == 0 and events(session) == []
    assert all(states(session, [*cast.active_a, both]).values())  # nobody changed

    job = start_bulk_job(session, f.actor(cast.staff), "deactivate", {})  # staff among them: themselves
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    assert "vous-même" in reload(session, job).error and count(session, Operation) == 0


def test_undoing_the_jobs_operation_restores_exactly_its_users(session, cast, small_chunks):
    job = start_bulk_job(session, f.actor(cast.staff), "deactivate", ON_A)
    runner.run_job(job.id)
    operation = job_operation(session, reload(session, job))
    changed_since = cast.active_a[0]
    bulk_service.set_active(session, f.actor(cast.staff), [changed_since.id], True)  # someone reactivated one since

    result = undo_service.undo(session, f.actor(cast.staff), operation.id)

    assert (result.restored, result.changed_since, result.out_of_scope) == (8, 1, 0)
    after = states(session, cast.a)
    assert all(after[u.id] for u in cast.active_a)  # restored (and the one reactivated since stays active)
    assert not any(after[u.id] for u in cast.inactive_a)  # already inactive before the job: left inactive
    assert states(session, [cast.manager])[cast.manager.id] is True


def test_plain_registered_actions_still_run_without_an_operation(session, cast, small_chunks, monkeypatch):
    seen = []

    def touch(s, actor, ids):
        for user_id in ids:
            audit.record(s, actor, "user.update", "user", user_id, "test")
        seen.extend(ids)

    monkeypatch.setitem(bulk.ACTIONS, "touch", touch)
    job = start_bulk_job(session, f.actor(cast.staff), "touch", {"etablissement": "B"})
    assert runner.run_job(job.id) == JobStatus.DONE.value
    assert len(seen) == 5 and count(session, Operation) == 0 and bulk.result_of(reload(session, job)) is None
