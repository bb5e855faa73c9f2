"""Who runs the jobs: RQ workers on Redis (production), or a thread of the web process (embedded mode).

Both call the same `runner.run_job(job_id)`; the database holds each job's truth, the transport only says
"job 42 is waiting". A message lost or delivered twice is harmless: a job is taken by a lease, and a job
already done, cancelled or held by a live worker is not taken again. The reaper puts back what a dead
worker left (its lease ran out) and what no message announces (Redis emptied), and deletes expired files.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING

from flask import Flask, current_app, has_app_context
from sqlalchemy import select

from models import Job

from ..extensions import db
from . import export, runner

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)
RQ_JOB_TIMEOUT = 24 * 3600  # RQ's own limit (180 s by default) would kill a million-row export


# --- RQ ------------------------------------------------------------------------------------------
def redis_connection(app: Flask) -> Redis:
    from redis import Redis

    url = app.config.get("JOBS_REDIS_URL")
    if not url:
        raise RuntimeError("JOBS_BACKEND=rq needs REDIS_URL (or JOBS_REDIS_URL)")
    return Redis.from_url(url)


ANNOUNCE_TIMEOUT = 2.0  # seconds: a web request announcing a job to a Redis that does not answer gives up this soon


def announcer(app: Flask) -> Redis:
    """The connection web requests announce jobs on: short timeouts, so that a Redis that does not answer costs
    the request a couple of seconds (then it says so, jobs.QUEUE_DOWN), not gunicorn's whole timeout. Not the
    workers' connection: their blocking reads wait far longer than this on purpose."""
    from redis import Redis

    url = app.config.get("JOBS_REDIS_URL")
    if not url:
        raise RuntimeError("JOBS_BACKEND=rq needs REDIS_URL (or JOBS_REDIS_URL)")
    cached = app.extensions.get("jobs_announcer")
    if cached is None or cached[0] != url:
        connection = Redis.from_url(url, socket_connect_timeout=ANNOUNCE_TIMEOUT, socket_timeout=ANNOUNCE_TIMEOUT)
        cached = app.extensions["jobs_announcer"] = (url, connection)
    return cached[1]


def _marker(app: Flask, job_id: int, attempts: int) -> str:
    return f"{app.config['JOBS_QUEUE']}:announced:{job_id}:{attempts}"


def rq_enqueue(app: Flask, job_id: int, attempts: int, connection: Redis | None = None) -> bool:
    """Announce a job on the RQ queue, once per attempt (the marker keeps the reaper from repeating it)."""
    from rq import Queue

    connection = connection or redis_connection(app)
    # Long enough for a job to wait behind others; if it runs out, a second message only costs a refused take.
    if not connection.set(_marker(app, job_id, attempts), 1, nx=True, ex=max(600, int(app.config["JOB_LEASE_SECONDS"] * 20))):
        return False
    Queue(app.config["JOBS_QUEUE"], connection=connection).enqueue(
        "admin_app.jobs.backends.perform", job_id, job_timeout=RQ_JOB_TIMEOUT, result_ttl=0, failure_ttl=7 * 24 * 3600,
        description=f"job {job_id}",
    )
    return True


_worker_app: Flask | None = None


def perform(job_id: int) -> str | None:
    """RQ's entry point (by name): run the job in a fresh app context, so each job has its own session."""
    global _worker_app
    if has_app_context():
        app = current_app._get_current_object()
    else:  # started by a plain `rq worker` rather than `flask jobs worker`
        if _worker_app is None:
            from admin_app import create_app

            _worker_app = create_app()
        app = _worker_app
    with app.app_context():
        return runner.run_job(job_id)


def reap(app: Flask, connection: Redis | None = None) -> int:
    """Announce again the jobs nobody runs (dead worker, lost message); delete expired files. Returns how many."""
    with app.app_context():
        announced = 0
        for job_id in runner.resumable(db.session, app.config["JOB_LEASE_SECONDS"]):
            attempts = db.session.scalar(select(Job.attempts).where(Job.id == job_id)) or 0
            db.session.rollback()
            if app.config["JOBS_BACKEND"] == "rq":
                announced += rq_enqueue(app, job_id, attempts, connection)
        export.expired_files(db.session)
        db.session.remove()
        return announced


def start_reaper(app: Flask, stop: threading.Event, connection: Redis | None = None) -> threading.Thread:
    """The RQ worker's companion thread: reap every half lease."""

    def loop() -> None:
        interval = max(1.0, app.config["JOB_LEASE_SECONDS"] / 2)
        while not stop.wait(interval):
            try:
                reap(app, connection)
            except Exception:  # a database or Redis hiccup must not end the reaper: next turn
                log.exception("job reaper")

    thread = threading.Thread(target=loop, name="jobs-reaper", daemon=True)
    thread.start()
    return thread


# --- the embedded runner -----------------------------------------------------------------------------
class EmbeddedRunner:
    """One daemon thread of the web process runs the jobs one after the other, as an RQ worker would.

    It sweeps every few seconds for jobs to resume (interrupted by a restart: their lease runs out), so
    `make run` needs no second process; it does nothing while the app's JOBS_BACKEND is not "thread".
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.inbox: queue.Queue[int | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.stopping.clear()
                self.thread = threading.Thread(target=self._loop, name="jobs-embedded", daemon=True)
                self.thread.start()

    def submit(self, job_id: int) -> None:
        self.start()
        self.inbox.put(job_id)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.inbox.put(None)
        if self.thread is not None:
            self.thread.join(timeout)

    def _loop(self) -> None:
        worker = runner.worker_name()
        self._sweep(worker)  # on start-up: resume what a previous run left
        while not self.stopping.is_set():
            try:
                job_id = self.inbox.get(timeout=max(1.0, self.app.config["JOB_LEASE_SECONDS"] / 4))
            except queue.Empty:
                self._sweep(worker)
                continue
            if job_id is not None and self.app.config["JOBS_BACKEND"] == "thread":
                self._run(job_id, worker)

    def _run(self, job_id: int, worker: str) -> None:
        try:
            with self.app.app_context():
                runner.run_job(job_id, worker)
        except Exception:
            log.exception("embedded job %s", job_id)

    def _sweep(self, worker: str) -> None:
        if self.app.config["JOBS_BACKEND"] != "thread":
            return
        try:
            with self.app.app_context():
                ids = runner.resumable(db.session, self.app.config["JOB_LEASE_SECONDS"])
                export.expired_files(db.session)
        except Exception:  # no jobs table yet (before `db upgrade`), database away: next sweep
            log.debug("embedded sweep skipped", exc_info=True)
            return
        for job_id in ids:
            if self.stopping.is_set():
                return
            self._run(job_id, worker)


def embedded(app: Flask) -> EmbeddedRunner:
    found = app.extensions.get("jobs_embedded")
    if found is None:
        found = app.extensions["jobs_embedded"] = EmbeddedRunner(app)
    return found


def enqueue(job: Job) -> bool:
    """Hand a committed job to the configured backend ("off": recorded only, for tests and maintenance).

    False when the transport could not take it (Redis unreachable, or too slow to answer): no message announces
    the job then, and the caller decides what becomes of it (admin_app.jobs withdraws it)."""
    app = current_app._get_current_object()
    backend = app.config["JOBS_BACKEND"]
    if backend == "rq":
        try:
            rq_enqueue(app, job.id, job.attempts, announcer(app))
        except Exception:  # whatever the transport's failure, the job is in the database and the caller is told
            log.exception("job %s: could not be announced on Redis", job.id)
            return False
    elif backend == "thread":
        embedded(app).submit(job.id)
    elif backend != "off":
        raise RuntimeError(f"JOBS_BACKEND inconnu : {backend!r} (rq, thread ou off)")
    return True


def init_app(app: Flask) -> None:
    """In embedded mode, start the runner with the first request (not at import: `flask db upgrade` must not)."""
    if app.config["JOBS_BACKEND"] != "thread":
        return

    @app.before_request
    def _start_embedded_jobs() -> None:
        runner_ = embedded(app)
        if runner_.thread is None:
            runner_.start()
