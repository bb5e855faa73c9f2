"""admin_app.services.jobs: who may cancel a job, and what a refused start or cancel leaves in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.jobs import export
from admin_app.services import ServiceError
from admin_app.services import jobs as job_service
from models import Job, JobKind, JobStatus

from . import factories as f
from .factories import MANAGER


@pytest.fixture
def cast(session):
    site = f.establishment(session)
    cast = type("Cast", (), dict(
        staff=f.user(session, staff=True, name="Staff"),
        author=f.user(session, [(site, MANAGER)], name="Auteur"),
        peer=f.user(session, [(site, MANAGER)], name="Pair"),
        nobody=f.user(session, name="Personne"),
    ))
    session.commit()
    return cast


def test_only_its_author_or_staff_may_cancel_a_job(session, cast, small_chunks):
    job = job_service.start_export_job(session, f.actor(cast.author), {})
    with pytest.raises(ServiceError, match="Seul son auteur, ou le staff"):
        job_service.cancel(session, f.actor(cast.peer), job)
    job = session.get(Job, job.id, populate_existing=True)
    assert (job.status, job.cancel_requested) == (JobStatus.QUEUED.value, False)
    assert job_service.cancel(session, f.actor(cast.staff), job)
    assert session.get(Job, job.id, populate_existing=True).status == JobStatus.CANCELLED.value


def test_someone_who_administers_nobody_starts_no_job(session, cast, small_chunks):
    for start in (lambda: job_service.start_export_job(session, f.actor(cast.nobody), {}),
                  lambda: job_service.start_bulk_job(session, f.actor(cast.nobody), "deactivate", {})):
        with pytest.raises(ServiceError, match="aucun établissement"):
            start()
    assert session.scalars(select(Job)).all() == []


def test_the_cap_counts_only_waiting_and_running_jobs(session, cast, small_chunks):
    jobs = [job_service.start_export_job(session, f.actor(cast.author), {}) for _ in range(job_service.MAX_OPEN_JOBS)]
    with pytest.raises(ServiceError, match=f"déjà {job_service.MAX_OPEN_JOBS} tâches"):
        job_service.create(session, f.actor(cast.author), JobKind(jobs[0].kind), dict(jobs[0].parameters))
    assert job_service.cancel(session, f.actor(cast.author), jobs[0])
    assert job_service.start_export_job(session, f.actor(cast.author), {}).status == JobStatus.QUEUED.value
    assert len(session.scalars(select(Job).where(Job.actor_id == cast.author.id)).all()) == job_service.MAX_OPEN_JOBS + 1


def test_a_job_recorded_before_the_fingerprint_was_named_keeps_its_perimeter():
    """Jobs queued or exported before the cursor's key was renamed still compare their perimeter (else a running
    job would stop, and an export file made for these establishments would refuse its author)."""
    assert export.recorded_fingerprint(Job(cursor={"scope": [3, 7]})) == [3, 7]
    assert export.recorded_fingerprint(Job(cursor={"fingerprint": "all", "scope": [3]})) == "all"
    assert export.recorded_fingerprint(Job(cursor=None)) is None
