"""Undo of an operation past BULK_JOB_THRESHOLD users, through HTTP: « Annuler cette opération » starts a job
and opens its progress page (nothing restored by the request itself); the job's run restores the users and the
page says so in the synchronous undo's words; a second click shows the undo under way instead of a second one;
refusals are French and start nothing. Below the threshold the undo is done at once, as before."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from admin_app.services.jobs import UNDO_UNDER_WAY
from models import Job, JobStatus, Operation

from ..databases import states
from ..demo import LUKE, STAFF
from ..http import all_matching, csrf_token, text
from ..jobs_helpers import job_id_of, run_job


@pytest.fixture(autouse=True)
def small_jobs(app, monkeypatch, jobs_run_by_the_test):  # the test runs each job itself
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 3)


def undo_post(client, operation_id: int, back: str = "/admin/users/"):
    token = csrf_token(client, "/admin/users/")
    return client.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(operation_id), "url": back})


@pytest.fixture
def deactivated(app, as_user, db, prepared):  # noqa: F811 (the fixture imported above)
    """Staff deactivated the four active users never logged in, by a job (past the threshold of 3)."""
    matching, already = prepared
    staff = as_user(STAFF)
    job_id = job_id_of(all_matching(staff, "deactivate"))
    assert run_job(app, job_id) == JobStatus.DONE.value
    (operation,) = db.session.scalars(select(Operation).where(Operation.job_id == job_id))
    assert operation.changed == 4 and not any(states(db, matching).values())
    return staff, operation.id, matching, already


def jobs(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Job))


def test_the_undo_becomes_a_job_whose_page_shows_its_progress_and_result(app, db, deactivated):
    staff, operation_id, matching, already = deactivated
    back = f"/admin/operations/details/?id={operation_id}"
    job_id = job_id_of(undo_post(staff, operation_id, back))
    job = db.session.get(Job, job_id)
    assert (job.kind, job.status, job.parameters["operation"]) == ("undo_operation", "queued", operation_id)
    assert not any(states(db, matching).values())  # nothing restored by the request itself

    page = text(staff.get(f"/admin/jobs/{job_id}/"))
    assert "L'opération porte sur 4 utilisateurs : son annulation se poursuit en tâche de fond" in page
    assert "Annulation d'une opération" in page and f"Annuler l'opération n° {operation_id}" in page
    assert 'role="progressbar"' in page and "En attente" in page and 'id="job-undo"' not in page
    assert f'href="{back}"' in page  # the operation taken back, linked

    assert run_job(app, job_id) == JobStatus.DONE.value
    assert states(db, matching) == {i: i not in already for i in matching}
    progress = staff.get(f"/admin/jobs/{job_id}/progress").get_json()
    assert progress["finished"] and progress["done"] == progress["total"] == 4
    assert progress["outcome"] == "Opération annulée : 4 utilisateurs rétablis."  # the synchronous undo's words
    assert not progress["may_undo"]
    db.session.expire_all()
    undo_op = db.session.scalar(select(Operation).where(Operation.undo_of_id == operation_id))
    assert (undo_op.job_id, undo_op.state, undo_op.changed) == (job_id, "done", 4)
    assert progress["operation_url"] == f"/admin/operations/details/?id={undo_op.id}"
    details = text(staff.get(back))
    assert "Annulée le" in details and f"l'opération n° {undo_op.id}" in details
    assert "Opération annulée : 4 utilisateurs rétablis." in text(staff.get(f"/admin/jobs/{job_id}/"))

    # Once done, a replayed POST is refused in French, nothing started.
    response = undo_post(staff, operation_id, back)
    assert response.status_code == 302 and response.location == back
    assert "Cette opération a déjà été annulée." in text(staff.get(back))
    assert jobs(db) == 2


def test_a_second_click_shows_the_undo_under_way(app, db, deactivated):
    staff, operation_id, matching, _ = deactivated
    job_id = job_id_of(undo_post(staff, operation_id))
    response = undo_post(staff, operation_id)
    assert response.status_code == 302 and response.location == f"/admin/jobs/{job_id}/"
    assert UNDO_UNDER_WAY in text(staff.get(response.location))
    assert jobs(db) == 2  # the deactivation's and this undo's


def test_someone_else_may_not_start_the_undo(app, as_user, db, deactivated):
    _, operation_id, matching, _ = deactivated
    luke = as_user(LUKE)
    response = undo_post(luke, operation_id)
    assert response.status_code == 302 and response.location == "/admin/users/"
    assert "Seul son auteur, ou le staff, peut annuler cette opération." in text(luke.get("/admin/users/"))
    assert jobs(db) == 1 and not any(states(db, matching).values())


def test_below_the_threshold_the_undo_is_done_at_once(app, db, deactivated, monkeypatch):
    staff, operation_id, matching, already = deactivated
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 4)  # four users changed: not more than the threshold
    response = undo_post(staff, operation_id)
    assert response.status_code == 302 and response.location == "/admin/users/"
    assert "Opération annulée : 4 utilisateurs rétablis." in text(staff.get("/admin/users/"))
    assert jobs(db) == 1 and states(db, matching) == {i: i not in already for i in matching}


def test_a_job_that_finds_the_operation_undone_meanwhile_fails_and_says_so(app, db, deactivated, monkeypatch):
    staff, operation_id, matching, already = deactivated
    job_id = job_id_of(undo_post(staff, operation_id))
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 4)
    undo_post(staff, operation_id)  # at once, while the job waits
    assert states(db, matching) == {i: i not in already for i in matching}

    assert run_job(app, job_id) == JobStatus.FAILED.value
    progress = staff.get(f"/admin/jobs/{job_id}/progress").get_json()
    assert progress["outcome"] == "Échec : Cette opération a déjà été annulée. Aucun utilisateur n'a été modifié."
    assert progress["operation_url"] is None
    assert db.session.scalar(select(func.count()).select_from(Operation).where(Operation.undo_of_id == operation_id)) == 1
