"""Bulk actions on every matching user past BULK_JOB_THRESHOLD, through HTTP: the users screen hands them to a
job (POST + CSRF) and opens its page; the page then says the result in the synchronous message's words and
offers « Annuler cette opération »; the operation page shows a running operation as « en cours » with its
job; a client manager sees neither staff's job nor its operation. Below the threshold nothing changes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from admin_app.extensions import db as _db
from admin_app.services import bulk as bulk_service
from models import AuditEvent, Job, JobStatus, Operation, User

from ..databases import states
from ..demo import LUKE, STAFF
from ..http import all_matching, csrf_token, text
from ..jobs_helpers import Crash, job_id_of, run_job


@pytest.fixture(autouse=True)
def small_jobs(app, monkeypatch, jobs_run_by_the_test):  # the test runs each job itself
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 3)


def test_past_the_threshold_the_action_becomes_a_job_whose_page_says_the_result_and_offers_undo(app, as_user, db, prepared):
    matching, already = prepared  # five users never logged in, one of them already inactive
    staff = as_user(STAFF)
    before = db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1))

    job_id = job_id_of(all_matching(staff, "deactivate"))
    assert job_id != before
    page = text(staff.get(f"/admin/jobs/{job_id}/"))
    assert "elle se poursuit en tâche de fond" in page and "L'action porte sur 5 utilisateurs" in page
    assert "Désactiver" in page and "filtre : Dernière connexion : jamais connecté" in page
    assert all(states(db, matching)[i] for i in matching if i not in already)  # nothing done by the request itself

    assert run_job(app, job_id) == JobStatus.DONE.value
    progress = staff.get(f"/admin/jobs/{job_id}/progress").get_json()
    assert progress["outcome"] == "4 utilisateurs désactivés, 1 l'était déjà."  # the synchronous message's words
    assert progress["may_undo"] and progress["operation_url"] == f"/admin/operations/details/?id={progress['operation_id']}"
    page = text(staff.get(f"/admin/jobs/{job_id}/"))
    assert "4 utilisateurs désactivés, 1 l'était déjà." in page
    undo_form = re.search(r'<form[^>]*id="job-undo"[^>]*>', page).group(0)
    assert "hidden" not in undo_form and "Annuler cette opération" in page
    assert not any(states(db, matching).values())

    operation = db.session.get(Operation, progress["operation_id"])
    assert (operation.job_id, operation.state, operation.changed, operation.unchanged) == (job_id, "done", 4, 1)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.target_id == operation.id, AuditEvent.target_type == "operation"))

    # « Annuler cette opération » from the job's page: a POST with the token, back to the job's page.
    app.config["BULK_JOB_THRESHOLD"] = 4  # undone at once (past the threshold, a job: tests/views/test_undo_job.py)
    token = csrf_token(staff, f"/admin/jobs/{job_id}/")
    response = staff.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(operation.id),
                                                                 "url": f"/admin/jobs/{job_id}/"})
    assert response.status_code == 302 and response.location == f"/admin/jobs/{job_id}/"
    page = text(staff.get(f"/admin/jobs/{job_id}/"))
    assert "Opération annulée : 4 utilisateurs rétablis." in page
    assert "hidden" in re.search(r'<form[^>]*id="job-undo"[^>]*>', page).group(0)  # done once: no second offer
    assert states(db, matching) == {i: i not in already for i in matching}


def test_below_the_threshold_the_action_is_done_at_once_as_before(app, as_user, db, prepared, monkeypatch):
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 5)  # five users match: not more than the threshold
    matching, _ = prepared
    staff = as_user(STAFF)
    jobs = db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1))
    response = all_matching(staff, "deactivate")
    assert response.status_code == 302 and response.location.startswith("/admin/users/")
    assert "4 utilisateurs désactivés, 1 l'était déjà." in text(staff.get(response.location))
    assert db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1)) == jobs
    assert not any(states(db, matching).values())


def test_without_the_token_no_job_starts(app, as_user, db, prepared):
    staff = as_user(STAFF)
    jobs = db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1))
    response = all_matching(staff, "deactivate", token="forged")
    assert response.status_code in (302, 400)
    assert db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1)) == jobs


def test_what_the_job_would_refuse_whole_is_refused_at_once_on_the_list(app, as_user, db, prepared):
    staff = as_user(STAFF)
    jobs = db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1))
    response = all_matching(staff, "deactivate", query="")  # every user: the staff member among them
    assert response.status_code == 302 and response.location == "/admin/users/"
    assert "Vous ne pouvez pas vous désactiver vous-même. Aucun utilisateur n'a été modifié." in text(staff.get("/admin/users/"))
    assert db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1)) == jobs  # no job started
    assert db.session.scalar(select(func.count()).select_from(User).where(User.active.is_(False))) == 1  # as prepared


def test_activate_with_links_as_a_job_says_the_links_too(app, as_user, db, prepared):
    matching, already = prepared
    staff = as_user(STAFF)
    job_id = job_id_of(all_matching(staff, "activate_links"))
    assert run_job(app, job_id) == JobStatus.DONE.value
    outcome = staff.get(f"/admin/jobs/{job_id}/progress").get_json()["outcome"]
    assert outcome == "1 utilisateur activé, 4 l'étaient déjà ; 5 liens envoyés par email."


def test_deleting_that_many_at_once_is_refused_in_french(app, as_user, db, prepared):
    matching, _ = prepared
    staff = as_user(STAFF)
    response = all_matching(staff, "delete")
    assert response.status_code == 302
    page = text(staff.get(response.location))
    assert "5 utilisateurs correspondent : une suppression est définitive" in page
    assert "Aucun utilisateur n'a été supprimé." in page
    assert sorted(states(db, matching)) == matching  # all still there


def test_a_running_operation_shows_as_en_cours_with_its_job_then_its_outcome(app, as_user, db, prepared, monkeypatch):
    staff = as_user(STAFF)
    job_id = job_id_of(all_matching(staff, "deactivate"))
    original, calls = bulk_service.set_active, []

    def dies_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Crash
        return original(*args, **kwargs)

    monkeypatch.setattr(bulk_service, "set_active", dies_on_second_chunk)
    with pytest.raises(Crash):
        run_job(app, job_id)
    with app.app_context():
        _db.session.remove()
    operation_id = db.session.scalar(select(Operation.id).where(Operation.job_id == job_id))
    page = text(staff.get(f"/admin/operations/details/?id={operation_id}"))
    assert "(en cours)" in page and "En cours" in page and f'href="/admin/jobs/{job_id}/"' in page
    assert "Possible une fois sa tâche terminée." in page and "Annuler cette opération" not in page

    monkeypatch.setattr(bulk_service, "set_active", original)
    monkeypatch.setitem(app.config, "JOB_LEASE_SECONDS", 0)  # the dead worker's lease ran out: resume
    assert run_job(app, job_id) == JobStatus.DONE.value
    page = text(staff.get(f"/admin/operations/details/?id={operation_id}"))
    assert "(en cours)" not in page and "Terminée" in page and "Annuler cette opération" in page


def test_a_client_manager_sees_neither_staffs_job_nor_its_operation(app, as_user, db, prepared):
    staff, luke = as_user(STAFF), as_user(LUKE)
    job_id = job_id_of(all_matching(staff, "deactivate"))
    run_job(app, job_id)
    operation_id = staff.get(f"/admin/jobs/{job_id}/progress").get_json()["operation_id"]
    assert luke.get(f"/admin/jobs/{job_id}/").status_code == 404
    assert luke.get(f"/admin/jobs/{job_id}/progress").status_code == 404
    assert luke.get(f"/admin/operations/details/?id={operation_id}").status_code == 404
    # Nor undo it by forging the POST.
    token = csrf_token(luke, "/admin/users/")
    luke.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(operation_id), "url": "/admin/users/"})
    db.session.expire_all()
    assert db.session.get(Operation, operation_id).undone_at is None
