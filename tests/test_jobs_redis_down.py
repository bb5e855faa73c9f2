"""Redis stopped (a closed port) while a job is started, through HTTP, for each kind of job (the export, the bulk
actions past BULK_JOB_THRESHOLD, the undo of a large operation): never a 500; the page says in French that
nothing was done and to retry; the database agrees (no job, no operation, nobody changed); retries queue nothing
behind the error (the per-person cap never fills); once Redis is back, one start queues exactly one job, announced.
A Redis that accepts the connection and never answers costs the request seconds, not the server's timeout."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from sqlalchemy import func, select

from admin_app.jobs import backends, runner
from admin_app.services.jobs import MAX_OPEN_JOBS, QUEUE_DOWN
from models import Job, JobStatus, Operation

from .databases import states
from .demo import STAFF
from .http import NEVER, all_matching, csrf_token, text
from .jobs_helpers import job_id_of, run_job, start_export
from .servers import free_port


@pytest.fixture
def redis_down(app, monkeypatch, jobs_run_by_the_test):
    """The RQ backend on a port nothing listens on; its number, for a Redis started there later."""
    port = free_port()
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "rq")
    monkeypatch.setitem(app.config, "JOBS_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 3)
    monkeypatch.setitem(app.config, "EXPORT_JOB_THRESHOLD", 3)
    return port


def count(db, model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def said_nothing_done(client, response, where: str) -> None:
    """A redirect (never a 500) to `where`, whose page says that nothing was done."""
    assert response.status_code == 302, response.status_code
    assert response.location == where
    assert QUEUE_DOWN in text(client.get(where))


def export_button(client):
    return client.post("/admin/jobs/export-users", data={"csrf_token": csrf_token(client, "/admin/users/")})


def test_the_export_button_starts_nothing_and_says_so(as_user, db, redis_down):
    staff = as_user(STAFF)
    said_nothing_done(staff, export_button(staff), "/admin/users/")
    assert count(db, Job) == 0


def test_the_export_of_every_matching_user_starts_nothing_and_says_so(as_user, db, redis_down):
    staff = as_user(STAFF)
    token = csrf_token(staff, "/admin/users/")
    response = staff.post("/admin/users/action/", data={"csrf_token": token, "action": "export", "all_matching": "1",
                                                        "url": "/admin/users/"})
    said_nothing_done(staff, response, "/admin/users/")
    assert count(db, Job) == 0


@pytest.mark.parametrize("action", ["deactivate", "activate", "activate_links"])
def test_a_bulk_action_past_the_threshold_changes_nobody_and_says_so(as_user, db, prepared, redis_down, action):  # noqa: F811
    matching, _ = prepared
    before = states(db, matching)
    staff = as_user(STAFF)
    said_nothing_done(staff, all_matching(staff, action), f"/admin/users/{NEVER}")
    assert count(db, Job) == 0 and count(db, Operation) == 0
    assert states(db, matching) == before


def test_the_undo_of_a_large_operation_changes_nobody_and_says_so(app, as_user, db, prepared, redis_down, monkeypatch):  # noqa: F811
    matching, _ = prepared
    staff = as_user(STAFF)
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 10)  # the deactivation itself at once
    all_matching(staff, "deactivate")
    (operation,) = db.session.scalars(select(Operation))
    assert operation.changed == 4 and not any(states(db, matching).values())
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 3)  # its undo: a job

    back = f"/admin/operations/details/?id={operation.id}"
    response = staff.post("/admin/users/undo-operation/", data={"csrf_token": csrf_token(staff, back),
                                                                "operation": str(operation.id), "url": back})
    said_nothing_done(staff, response, back)
    assert count(db, Job) == 0 and count(db, Operation) == 1
    assert db.session.get(Operation, operation.id).undone_at is None  # may be undone once the queue is back
    assert not any(states(db, matching).values())


@pytest.fixture
def redis_server(redis_down):
    """Start a real Redis on the port that was closed, when the test asks (`start()`); stopped at the end."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed")
    started = []

    def start():
        process = subprocess.Popen([executable, "--port", str(redis_down), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", redis_down), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def test_retries_queue_nothing_and_once_redis_is_back_one_start_queues_one_job(app, as_user, db, redis_down, redis_server):
    staff = as_user(STAFF)
    for _ in range(MAX_OPEN_JOBS + 1):  # more than the cap: never « vous avez déjà 3 tâches »
        said_nothing_done(staff, export_button(staff), "/admin/users/")
    assert count(db, Job) == 0

    redis_server()
    job_id = start_export(staff)
    assert [j.id for j in db.session.scalars(select(Job))] == [job_id]
    assert db.session.get(Job, job_id).status == JobStatus.QUEUED.value
    from rq import Queue

    with app.app_context():
        queue = Queue(app.config["JOBS_QUEUE"], connection=backends.announcer(app))
        assert queue.count == 1  # announced once
        queue.empty()
    assert run_job(app, job_id) == JobStatus.DONE.value


def test_a_redis_that_never_answers_costs_seconds_not_the_server_timeout(app, as_user, db, redis_down, monkeypatch):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setitem(app.config, "JOBS_REDIS_URL", f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        staff = as_user(STAFF)
        started = time.monotonic()
        response = export_button(staff)
        elapsed = time.monotonic() - started
    said_nothing_done(staff, response, "/admin/users/")
    assert elapsed < 4 * backends.ANNOUNCE_TIMEOUT
    assert count(db, Job) == 0


def test_a_job_a_worker_took_meanwhile_is_not_withdrawn(app, as_user, db, redis_down, monkeypatch):
    """The announcement failed but its message went through and a worker took the job: it runs, the page says so."""
    def announced_then_lost(job):
        assert runner.take(db.session, job.id, "another-worker", 30)
        return False

    monkeypatch.setattr(backends, "enqueue", announced_then_lost)
    staff = as_user(STAFF)
    job_id = job_id_of(export_button(staff))
    job = db.session.get(Job, job_id)
    assert (job.status, job.worker) == (JobStatus.RUNNING.value, "another-worker")
    assert QUEUE_DOWN not in text(staff.get(f"/admin/jobs/{job_id}/"))
