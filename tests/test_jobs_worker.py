"""Workers killed mid-job, for real: the job resumes in the next worker and writes every row exactly once.

- Production's runner: `flask jobs worker` (RQ) processes on PostgreSQL and Redis; the first one is
  SIGKILLed while it exports, a second one takes over once the lease runs out (skipped without
  TEST_DATABASE_URL, or without a Redis on REDIS_URL / 127.0.0.1:6379).
- The embedded mode (`make run`: SQLite, no Redis): `flask run` with its runner thread is SIGKILLed
  mid-job; the next `flask run` resumes it.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import Session

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db as _db
from admin_app.jobs import backends, bulk
from admin_app.services import Actor
from admin_app.services.jobs import create as create_job
from models import AuditEvent, Job, JobKind, JobStatus, Operation, OperationItem, User

from .databases import ON_POSTGRES
from .servers import free_port

FLASK = [str(Path(sys.executable).with_name("flask")), "--app", "admin_app"]
ROOT = Path(__file__).resolve().parent.parent
USERS = 30_000


def insert_users(session: Session, count: int) -> User:
    """`count` plain users in a few statements, and the staff member who exports them."""
    staff = User(civility="M.", last_name="Staff", first_name="Export", email="export.staff@example.org",
                 phone="0612345678", is_staff=True)
    session.add(staff)
    session.flush()
    for start in range(0, count, 5_000):
        session.execute(insert(User), [
            {"civility": "Mme", "last_name": f"Nom{i % 977:04d}", "first_name": f"Prénom{i % 31}",
             "email": f"u{i}@example.org", "phone": "0612345678"}
            for i in range(start, min(count, start + 5_000))
        ])
    session.commit()
    return staff


def exported_emails(path: Path) -> list[str]:
    data = path.read_bytes().decode("utf-8")
    assert data.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(data[1:]), delimiter=";"))
    assert rows[0][0] == "Actif"
    return [r[7] for r in rows[1:]]


def wait(predicate, seconds: float, what: str, interval: float = 0.01):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(interval)
    raise AssertionError(f"waited {seconds} s for {what}")


def job_state(engine, job_id: int) -> Job:
    with Session(engine) as session:
        return session.get(Job, job_id)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def killed_mid_job(database_url: str, job_id: int, start: Callable[[], subprocess.Popen], *, kill_after: int,
                   total: int, first: str, then: str) -> Job:
    """Start a process that runs the job (`start`), SIGKILL it once `kill_after` rows are done (`first`: what that
    waits for), start another one and wait for it to finish the job (`then`): the finished job. The job must still be
    running, short of `total` rows, when the first process dies; every process is killed on the way out."""
    engine = create_engine(database_url)
    processes = [start()]
    try:
        wait(lambda: job_state(engine, job_id).done >= kill_after, 60, first)
        kill(processes[0])
        killed_at = job_state(engine, job_id)
        assert killed_at.status == JobStatus.RUNNING.value and killed_at.done < total, "the job ended before the kill"
        processes.append(start())
        return wait(lambda: (j := job_state(engine, job_id)).is_finished and j, 120, then, 0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                kill(process)
        engine.dispose()


def worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOB", "REDIS", "EXPORT"))}
    env.update(SECRET_KEY="worker-test", MAIL_BACKEND="outbox-only", JOB_CHUNK_SIZE="100", JOB_LEASE_SECONDS="2", **extra)
    return env


# --- production: RQ workers on PostgreSQL and Redis ----------------------------------------------

def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
    try:
        from redis import Redis

        Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip(f"no Redis at {url}")
    return url


def an_rq_job_killed_mid_way(app, database_url: str, monkeypatch, kind: JobKind, parameters: dict,
                             **directories: str) -> Job:
    """`kind`'s job over USERS users (and the staff member who starts it), queued on a queue of its own: a first
    `flask jobs worker` is SIGKILLed mid-job, a second one takes over once the lease runs out. The finished job."""
    url = redis_url()
    queue = f"test-jobs-{uuid.uuid4().hex[:8]}"
    for key, value in {"JOBS_BACKEND": "rq", "JOBS_REDIS_URL": url, "JOBS_QUEUE": queue, **directories}.items():
        monkeypatch.setitem(app.config, key, value)
    env = worker_env(DATABASE_URL=database_url, REDIS_URL=url, JOBS_QUEUE=queue, **directories)
    with app.app_context():
        staff = insert_users(_db.session, USERS)
        job = create_job(_db.session, Actor(staff), kind, parameters)
        job_id = job.id
        backends.enqueue(job)
        _db.session.remove()

    def worker() -> subprocess.Popen:
        return subprocess.Popen([*FLASK, "jobs", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    return killed_mid_job(database_url, job_id, worker, kill_after=3_000, total=USERS,
                          first="the first worker's first chunks", then="the second worker to finish")


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="the real runner's crash test runs on PostgreSQL (TEST_DATABASE_URL)")
def test_an_rq_worker_killed_mid_export_is_taken_over_and_every_row_is_written_once(app, database_url, tmp_path,
                                                                                      monkeypatch):
    final = an_rq_job_killed_mid_way(app, database_url, monkeypatch, JobKind.EXPORT_USERS, {"filter": {}, "search": ""},
                                     EXPORT_DIR=str(tmp_path))
    assert final.status == JobStatus.DONE.value, final.error
    assert final.attempts == 2 and final.done == final.total == USERS + 1
    emails = exported_emails(tmp_path / final.result_path)
    assert len(emails) == len(set(emails)) == USERS + 1  # every user, each exactly once


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="the real runner's crash test runs on PostgreSQL (TEST_DATABASE_URL)")
def test_an_rq_worker_killed_mid_deactivation_leaves_one_operation_with_each_user_once(app, database_url, monkeypatch):
    """The users screen's "Désactiver" on every matching user, as a job: SIGKILLed mid-way, then finished by a
    second worker: one operation, one item per user, the counts of every user once, one audit entry."""
    final = an_rq_job_killed_mid_way(app, database_url, monkeypatch, JobKind.BULK_USERS,
                                     bulk.parameters("deactivate", {"staff": "non"}))
    assert final.status == JobStatus.DONE.value, final.error
    assert final.attempts == 2 and final.done == final.total == USERS
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            (operation,) = session.scalars(select(Operation).where(Operation.job_id == final.id))
            assert (operation.state, operation.requested, operation.changed, operation.unchanged) == ("done", USERS, USERS, 0)
            items = session.scalar(select(func.count()).select_from(OperationItem).where(OperationItem.operation_id == operation.id))
            assert items == USERS
            assert session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))) == 1  # the staff member
            entries = session.scalars(select(AuditEvent).where(AuditEvent.target_type == "operation")).all()
            assert [e.target_id for e in entries] == [operation.id]
    finally:
        engine.dispose()


# --- the embedded mode: `flask run` and its thread, on SQLite ---------------------------------------

def test_the_embedded_runner_killed_with_its_server_resumes_the_export_on_the_next_start(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'embedded.db'}"
    setup = create_app(TestingConfig(database_url))
    with setup.app_context():
        _db.create_all()
        staff = insert_users(_db.session, 20_000)
        job_id = create_job(_db.session, Actor(staff), JobKind.EXPORT_USERS, {"filter": {}, "search": ""}).id
        _db.session.remove()
        _db.engine.dispose()
    env = worker_env(DATABASE_URL=database_url, EXPORT_DIR=str(tmp_path))  # no REDIS_URL: the embedded runner

    def serve() -> subprocess.Popen:
        port = free_port()
        process = subprocess.Popen([*FLASK, "run", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():  # the first request starts the runner, which resumes what waits
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200  # noqa: S310
            except OSError:
                return False

        wait(up, 30, "flask run to answer", 0.1)
        return process

    final = killed_mid_job(database_url, job_id, serve, kill_after=2_000, total=20_001, first="the first chunks",
                           then="the resumed job")
    assert final.status == JobStatus.DONE.value, final.error
    assert final.attempts == 2
    emails = exported_emails(tmp_path / final.result_path)
    assert len(emails) == len(set(emails)) == 20_001
    with Session(create_engine(database_url)) as session:
        assert session.scalar(select(Job.done).where(Job.id == job_id)) == 20_001
