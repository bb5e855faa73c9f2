"""Tâches through HTTP: starting an export job from the list's filters, the progress page and its JSON,
cancelling, downloading, and who may see whose job (the author and staff, nobody else)."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select, update

from models import Job, JobStatus

from ..demo import CHEWIE, LANDO, LUKE, OBIWAN, STAFF
from ..http import csrf_token
from ..jobs_helpers import csv_rows, run_job, start_export

pytestmark = pytest.mark.usefixtures("jobs_run_by_the_test")  # the test runs each job itself, when it wants


def rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return csv_rows(body)


def synchronous_export(client, query: str = "") -> list[list[str]]:
    data = {"csrf_token": csrf_token(client, "/admin/users/"), "action": "export", "url": "/admin/users/", "all_matching": "1"}
    return rows(client.post(f"/admin/users/action/{query}", data=data).get_data())


@pytest.mark.parametrize("who", [STAFF, LUKE, OBIWAN, CHEWIE])
@pytest.mark.parametrize("query", ["", "?actif=oui", "?search=sky"])
def test_the_job_exports_exactly_the_rows_of_the_synchronous_export(app, as_user, who, query):
    client = as_user(who)
    job_id = start_export(client, query)
    assert run_job(app, job_id) == JobStatus.DONE.value
    download = client.get(f"/admin/jobs/{job_id}/download")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    assert rows(download.get_data()) == synchronous_export(client, query)


def test_the_progress_page_and_its_json(app, as_user, db):
    client = as_user(STAFF)
    job_id = start_export(client)
    page = client.get(f"/admin/jobs/{job_id}/").get_data(as_text=True)
    assert 'role="progressbar"' in page and 'aria-valuenow="0"' in page and 'role="status"' in page
    assert "jobs.js" in page and "Annuler la tâche" in page and "En attente" in page

    assert client.get(f"/admin/jobs/{job_id}/progress").get_json()["status"] == "queued"
    assert run_job(app, job_id) == "done"
    progress = client.get(f"/admin/jobs/{job_id}/progress").get_json()
    assert progress["finished"] and progress["done"] == progress["total"] == 7 and progress["percent"] == 100
    assert progress["text"] == "7 / 7 utilisateurs (100 %)"
    assert progress["download_url"] == f"/admin/jobs/{job_id}/download"
    assert progress["outcome"].startswith("Terminé : 7 utilisateurs exportés.")
    page = client.get(f"/admin/jobs/{job_id}/").get_data(as_text=True)
    assert "Télécharger le fichier (CSV)" in page and "Annuler la tâche" not in page
    assert f'href="/admin/jobs/{job_id}/"' in client.get("/admin/jobs/").get_data(as_text=True)


def test_cancel_is_a_post_with_the_csrf_token(app, as_user, db):
    client = as_user(LUKE)
    job_id = start_export(client)
    assert client.get(f"/admin/jobs/{job_id}/cancel").status_code == 405
    refused = client.post(f"/admin/jobs/{job_id}/cancel", data={})
    assert refused.status_code == 400 and "Requête invalide" in refused.get_data(as_text=True)
    token = csrf_token(client, f"/admin/jobs/{job_id}/")
    done = client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "Annulation demandée" in done.get_data(as_text=True)
    assert db.session.scalar(select(Job.status).where(Job.id == job_id)) == JobStatus.CANCELLED.value
    again = client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "déjà terminée" in again.get_data(as_text=True)
    assert run_job(app, job_id) is None  # a cancelled job is not run


def test_nobody_else_sees_a_job_but_staff(app, as_user):
    luke = as_user(LUKE)
    job_id = start_export(luke)
    run_job(app, job_id)
    chewie, staff = as_user(CHEWIE), as_user(STAFF)
    for url in (f"/admin/jobs/{job_id}/", f"/admin/jobs/{job_id}/progress", f"/admin/jobs/{job_id}/download"):
        response = chewie.get(url)
        assert response.status_code == 404 and "Page introuvable" in response.get_data(as_text=True)
        assert staff.get(url).status_code == 200
    token = csrf_token(chewie, "/admin/users/")
    assert chewie.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 404
    assert f"/admin/jobs/{job_id}/" not in chewie.get("/admin/jobs/").get_data(as_text=True)

    staff_job = start_export(staff)  # a client manager never sees the back office's jobs
    assert luke.get(f"/admin/jobs/{staff_job}/").status_code == 404
    assert f"/admin/jobs/{staff_job}/" not in luke.get("/admin/jobs/").get_data(as_text=True)
    assert as_user(LANDO).get(f"/admin/jobs/{job_id}/").status_code == 403  # no user administration at all


def test_anonymous_visitors_are_sent_to_the_login_page(client, demo):
    response = client.get("/admin/jobs/1/")
    assert response.status_code == 302 and response.location.startswith("/login")


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "99999999999999999999", "999999"])
def test_unknown_job_ids_are_a_french_404(as_user, raw):
    response = as_user(STAFF).get(f"/admin/jobs/{raw}/progress")
    assert response.status_code == 404 and "Page introuvable" in response.get_data(as_text=True)


def test_the_file_is_offered_only_once_done_and_until_it_expires(app, as_user, db):
    client = as_user(LUKE)
    job_id = start_export(client)
    early = client.get(f"/admin/jobs/{job_id}/download", follow_redirects=True)
    assert "pas encore terminé" in early.get_data(as_text=True)
    run_job(app, job_id)
    assert client.get(f"/admin/jobs/{job_id}/download").status_code == 200
    db.session.execute(update(Job).where(Job.id == job_id).values(result_expires_at=Job.finished_at))
    db.session.commit()
    late = client.get(f"/admin/jobs/{job_id}/download", follow_redirects=True)
    assert "n'est plus disponible" in html.unescape(late.get_data(as_text=True))


def test_starting_an_export_needs_the_csrf_token_and_user_administration(as_user, db):
    luke = as_user(LUKE)
    assert luke.post("/admin/jobs/export-users", data={}).status_code == 400
    assert luke.get("/admin/jobs/export-users", follow_redirects=True).status_code in (404, 405)  # French page
    lando = as_user(LANDO)
    assert lando.post("/admin/jobs/export-users", data={"csrf_token": csrf_token(lando, "/account/profile")}).status_code == 403
    assert db.session.scalar(select(Job.id)) is None


def test_a_fourth_waiting_export_is_refused_in_french_back_on_the_list(as_user, db):
    client = as_user(LUKE)
    for _ in range(3):
        start_export(client)
    response = client.post("/admin/jobs/export-users?actif=oui", data={"csrf_token": csrf_token(client, "/admin/users/")},
                           follow_redirects=True)
    assert response.request.path == "/admin/users/"
    assert "déjà 3 tâches en attente ou en cours" in html.unescape(response.get_data(as_text=True))
    assert len(db.session.scalars(select(Job.id)).all()) == 3
