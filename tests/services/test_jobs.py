"""Background jobs called directly: chunks, resuming after a crash without doing a chunk twice, cancelling,
the export's scope and file, rights lost meanwhile, two workers on one job, and the embedded thread runner."""

from __future__ import annotations

import csv
import io
import time

import pytest
from sqlalchemy import delete, select, update

from admin_app.jobs import backends, bulk, export, runner
from admin_app.services import ServiceError, audit
from admin_app.services import jobs as job_service
from admin_app.services.jobs import start_bulk_job, start_export_job
from models import AuditEvent, Grant, Job, JobStatus

from ..jobs_helpers import Crash
from . import factories as f
from .factories import MANAGER, USER_ADMIN


@pytest.fixture
def cast(session):
    site_a, site_b = f.establishment(session), f.establishment(session)
    staff = f.user(session, staff=True, name="Staff")
    manager = f.user(session, [(site_a, MANAGER)], name="Gestionnaire")
    mine = [f.user(session, [(site_a, ())], name=f"Dupont {f._letters(i)}") for i in range(8)]
    both = f.user(session, [(site_b, ()), (site_a, ())], name="Partout")  # primary on B, outside A's perimeter
    theirs = [f.user(session, [(site_b, ())], name=f"Martin {f._letters(i)}") for i in range(4)]
    session.commit()
    return type("Cast", (), dict(site_a=site_a, site_b=site_b, staff=staff, manager=manager, mine=mine, both=both,
                                 theirs=theirs))


def rows_of(job: Job) -> list[list[str]]:
    data = export.file_of(job).read_bytes().decode("utf-8")
    assert data.startswith("\ufeff")
    return list(csv.reader(io.StringIO(data[1:]), delimiter=";"))


def emails(job: Job) -> list[str]:
    return [row[7] for row in rows_of(job)[1:]]


def test_an_export_job_writes_every_user_in_the_list_order_chunk_by_chunk(session, cast, small_chunks):
    job = start_export_job(session, f.actor(cast.staff), {})
    assert job.status == JobStatus.QUEUED.value and job.done == 0

    assert runner.run_job(job.id) == JobStatus.DONE.value
    session.refresh(job)
    rows = rows_of(job)
    assert rows[0] == export.HEADER
    assert len(rows) - 1 == job.done == job.total == 15
    names = [(r[1], r[2]) for r in rows[1:]]
    assert names == sorted(names)  # the list's order: last name, first name
    assert len(set(emails(job))) == 15
    assert job.attempts == 1 and job.finished_at is not None and job.result_expires_at > job.finished_at


def test_the_export_keeps_the_filters_and_the_search(session, cast, small_chunks):
    job = start_export_job(session, f.actor(cast.staff), {"nom": "martin", "ignored": "x"})
    assert job.parameters == {"filter": {"nom": "martin"}, "search": ""}
    runner.run_job(job.id)
    assert sorted(emails(session.get(Job, job.id))) == sorted(u.email for u in cast.theirs)


def test_a_delegated_manager_exports_their_perimeter_only_with_the_columns_they_may_see(session, cast, small_chunks):
    job = start_export_job(session, f.actor(cast.manager), {})
    runner.run_job(job.id)
    job = session.get(Job, job.id)
    rows = {r[7]: r for r in rows_of(job)[1:]}
    assert set(rows) == {u.email for u in [cast.manager, *cast.mine, cast.both]}
    assert rows[cast.both.email][5] == ""  # their primary establishment is outside the perimeter: not shown
    assert rows[cast.mine[0].email][5] == f"{cast.site_a.name} {cast.site_a.siret}"


def test_a_crash_inside_a_chunk_resumes_after_the_last_committed_chunk_and_writes_each_row_once(
        session, cast, small_chunks, app, monkeypatch):
    job = start_export_job(session, f.actor(cast.staff), {})
    original, calls = export._write_at, []

    def write_then_die(path, offset, data):
        calls.append(offset)
        original(path, offset, data)  # the rows reach the file...
        if len(calls) == 4:  # ...of the third chunk (the header is the first write), then the worker dies
            raise Crash

    monkeypatch.setattr(export, "_write_at", write_then_die)
    with pytest.raises(Crash):
        runner.run_job(job.id)
    session.rollback()
    job = session.get(Job, job.id, populate_existing=True)
    assert job.status == JobStatus.RUNNING.value and job.done == 6  # two chunks committed, the third not

    assert runner.run_job(job.id) is None  # the dead worker's lease still runs: nobody takes the job yet
    monkeypatch.setitem(app.config, "JOB_LEASE_SECONDS", 0)  # ... now it has run out
    assert runner.run_job(job.id) == JobStatus.DONE.value
    job = session.get(Job, job.id, populate_existing=True)
    assert job.attempts == 2 and job.done == job.total == 15
    assert sorted(emails(job)) == sorted({*emails(job)}) and len(emails(job)) == 15  # the half-written chunk was cut off
    assert calls[4] == calls[3]  # the resumed chunk was written at the very offset the crashed one started


def test_a_bulk_job_commits_each_chunk_with_its_audit_entries_and_never_does_one_twice(session, cast, small_chunks, app,
                                                                                        monkeypatch):
    seen: list[list[int]] = []

    def touch(s, actor, ids):
        for user_id in ids:
            audit.record(s, actor, "user.update", "user", user_id, "test")
        seen.append(ids)
        if len(seen) == 3:
            raise Crash  # dies after writing the third chunk's entries, before its commit

    monkeypatch.setitem(bulk.ACTIONS, "touch", touch)
    job = start_bulk_job(session, f.actor(cast.staff), "touch", {})
    with pytest.raises(Crash):
        runner.run_job(job.id)
    session.rollback()
    assert f.count(session, AuditEvent) == 6

    monkeypatch.setitem(app.config, "JOB_LEASE_SECONDS", 0)
    assert runner.run_job(job.id) == JobStatus.DONE.value
    targets = [e.target_id for e in f.events(session, "user.update")]
    assert sorted(targets) == sorted(set(targets)) and len(targets) == 15
    assert seen[3] == seen[2]  # the lost chunk was done again, once


def test_a_refused_chunk_fails_the_job_with_the_services_french_reason(session, cast, small_chunks, monkeypatch):
    def refuse(s, actor, ids):
        raise ServiceError("Refusé pour le test.")

    monkeypatch.setitem(bulk.ACTIONS, "refuse", refuse)
    job = start_bulk_job(session, f.actor(cast.staff), "refuse", {})
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    job = session.get(Job, job.id, populate_existing=True)
    assert job.error == "Refusé pour le test." and job.done == 0 and job.worker is None


def test_cancelling_a_waiting_job_ends_it_at_once(session, cast, small_chunks):
    job = start_export_job(session, f.actor(cast.staff), {})
    assert job_service.cancel(session, f.actor(cast.staff), job)
    job = session.get(Job, job.id, populate_existing=True)
    assert job.status == JobStatus.CANCELLED.value
    assert runner.run_job(job.id) is None  # a worker that gets its message later leaves it alone
    assert not job_service.cancel(session, f.actor(cast.staff), job)  # over: nothing to cancel


def test_cancelling_a_running_export_stops_it_after_the_current_chunk_and_removes_the_file(session, cast, small_chunks,
                                                                                          monkeypatch):
    job = start_export_job(session, f.actor(cast.staff), {})
    original = export.ExportUsers.chunk

    def chunk_then_cancel(self, s, job, *args):
        more = original(self, s, job, *args)
        s.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))  # the button, meanwhile
        return more

    monkeypatch.setattr(export.ExportUsers, "chunk", chunk_then_cancel)
    assert runner.run_job(job.id) == JobStatus.CANCELLED.value
    job = session.get(Job, job.id, populate_existing=True)
    path = export.export_dir() / f"utilisateurs-{job.id}.csv"
    assert job.done == 3 and job.result_path is None and not path.exists()
    assert job.error == runner.CANCELLED


def test_a_manager_who_loses_their_rights_meanwhile_sees_the_job_fail_in_french(session, cast, small_chunks, monkeypatch):
    job = start_export_job(session, f.actor(cast.manager), {})
    original = export.ExportUsers.chunk

    def chunk_then_demote(self, s, job, *args):
        more = original(self, s, job, *args)
        s.execute(update(Grant).where(Grant.user_id == cast.manager.id).values(manager=False, user_admin=False))
        return more

    monkeypatch.setattr(export.ExportUsers, "chunk", chunk_then_demote)
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    job = session.get(Job, job.id, populate_existing=True)
    assert job.error == export.NO_LONGER_ADMIN and job.result_path is None


def test_a_perimeter_that_changes_meanwhile_stops_the_export(session, cast, small_chunks, monkeypatch):
    job = start_export_job(session, f.actor(cast.manager), {})
    original = export.ExportUsers.chunk

    def chunk_then_widen(self, s, job, *args):
        more = original(self, s, job, *args)
        s.add(Grant(user_id=cast.manager.id, establishment_id=cast.site_b.id, is_primary=False, user_admin=True))
        return more

    monkeypatch.setattr(export.ExportUsers, "chunk", chunk_then_widen)
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    assert session.get(Job, job.id, populate_existing=True).error == export.PERIMETER_CHANGED


def test_a_job_whose_author_was_deleted_fails(session, cast, small_chunks):
    author = f.user(session, [(cast.site_a, USER_ADMIN)])
    session.commit()
    job = start_export_job(session, f.actor(author), {})
    session.execute(delete(Grant).where(Grant.user_id == author.id))
    session.delete(author)
    session.commit()
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    assert session.get(Job, job.id, populate_existing=True).error == runner.ACTOR_GONE


def test_nobody_queues_more_than_three_jobs_at_once(session, cast, small_chunks):
    jobs = [start_export_job(session, f.actor(cast.manager), {}) for _ in range(job_service.MAX_OPEN_JOBS)]
    with pytest.raises(ServiceError, match="déjà 3 tâches en attente ou en cours"):
        start_export_job(session, f.actor(cast.manager), {})
    start_export_job(session, f.actor(cast.staff), {})  # someone else still may
    job_service.cancel(session, f.actor(cast.manager), jobs[0])
    start_export_job(session, f.actor(cast.manager), {})  # once one is over, one more


def test_someone_without_user_administration_cannot_start_an_export(session, cast, small_chunks):
    nobody = f.user(session, [(cast.site_a, ())])
    session.commit()
    with pytest.raises(ServiceError):
        start_export_job(session, f.actor(nobody), {})
    assert f.count(session, Job) == 0


def test_a_worker_whose_lease_was_taken_stops_without_writing(session, cast, small_chunks):
    job = start_export_job(session, f.actor(cast.staff), {})
    assert runner.take(session, job.id, "first", lease=30)
    assert not runner.take(session, job.id, "second", lease=30)  # a live holder keeps it
    assert runner.take(session, job.id, "second", lease=0)  # the first one is taken for dead
    with pytest.raises(runner.LeaseLost), runner.renewing(session, job.id, "first"):
        pass
    assert runner.run_job(job.id) is None  # a third worker finds "second" alive: it leaves the job alone


def test_expired_export_files_are_deleted(session, cast, small_chunks):
    job = start_export_job(session, f.actor(cast.staff), {})
    runner.run_job(job.id)
    job = session.get(Job, job.id, populate_existing=True)
    path = export.file_of(job)
    session.execute(update(Job).where(Job.id == job.id).values(result_expires_at=job.finished_at))
    session.commit()
    assert export.expired_files(session) == 1
    assert not path.exists() and session.get(Job, job.id, populate_existing=True).result_path is None


# --- the embedded runner (no Redis: `make run`) ------------------------------------------------------

def wait_for(session, job_id: int, seconds: float = 20) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session.rollback()
        job = session.get(Job, job_id, populate_existing=True)
        if job.is_finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job.status} after {seconds} s")


@pytest.fixture
def embedded(app, small_chunks, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "thread")
    started: list[backends.EmbeddedRunner] = []

    def start() -> backends.EmbeddedRunner:
        made = app.extensions["jobs_embedded"] = backends.EmbeddedRunner(app)  # a new process's runner
        started.append(made)
        made.start()
        return made

    yield start
    for made in started:
        made.stop()
    app.extensions.pop("jobs_embedded", None)


def test_the_embedded_runner_runs_a_job_in_the_web_process(session, cast, embedded):
    embedded()
    job = start_export_job(session, f.actor(cast.staff), {})
    assert wait_for(session, job.id).status == JobStatus.DONE.value
    assert len(emails(session.get(Job, job.id))) == 15


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the simulated crash
def test_a_job_interrupted_in_embedded_mode_resumes_on_the_next_start(session, cast, embedded, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOB_LEASE_SECONDS", 0.5)
    original, writes = export._write_at, []

    def write_then_die(path, offset, data):
        writes.append(offset)
        original(path, offset, data)
        if len(writes) == 3:
            raise Crash  # ends the runner's thread, as the process ending would

    monkeypatch.setattr(export, "_write_at", write_then_die)
    first = embedded()
    job = start_export_job(session, f.actor(cast.staff), {})
    first.thread.join(10)
    assert not first.thread.is_alive()
    session.rollback()
    assert session.get(Job, job.id, populate_existing=True).status == JobStatus.RUNNING.value

    monkeypatch.setattr(export, "_write_at", original)
    embedded()  # the next start sweeps for interrupted jobs once their lease ran out
    job = wait_for(session, job.id)
    assert job.status == JobStatus.DONE.value and job.attempts == 2
    assert len(emails(job)) == len(set(emails(job))) == 15
    assert session.scalar(select(Job.done).where(Job.id == job.id)) == 15


def test_the_exports_fast_phone_format_is_phonenumbers_own():
    import random

    from models.rules import format_phone

    numbers = [f"+33{p}{random.randrange(10**8):08d}" for p in "123456789" for _ in range(300)]
    numbers += ["+33800123456", "+3225551234", "+14155552671", "", None, "0612345678"]
    assert [export.phone(n) for n in numbers] == [format_phone(n) for n in numbers]
