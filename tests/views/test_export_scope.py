"""An export's file is served only to whoever's perimeter is the one it was made for: its author while their
establishments are unchanged, and staff (who see everything)."""

import re

import pytest
from sqlalchemy import delete, select

from admin_app.extensions import db as _db
from admin_app.jobs import runner
from models import Establishment, Grant, JobStatus, User

from ..demo import ANNEXE, LUKE, STAFF
from ..http import csrf_token


@pytest.fixture
def luke_export(app, as_user, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "off")
    luke = as_user(LUKE)
    response = luke.post("/admin/jobs/export-users", data={"csrf_token": csrf_token(luke, "/admin/users/")})
    job_id = int(re.fullmatch(r"/admin/jobs/(\d+)/", response.location).group(1))
    with app.app_context():
        assert runner.run_job(job_id) == JobStatus.DONE.value
        _db.session.remove()
    return luke, job_id


def test_a_manager_whose_establishments_changed_is_told_to_export_again(db, luke_export):
    luke, job_id = luke_export
    assert luke.get(f"/admin/jobs/{job_id}/progress").get_json()["download_url"]
    annexe = db.session.scalar(select(Establishment.id).where(Establishment.siret == ANNEXE))
    luke_id = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    db.session.execute(delete(Grant).where(Grant.user_id == luke_id, Grant.establishment_id == annexe))
    db.session.commit()

    progress = luke.get(f"/admin/jobs/{job_id}/progress").get_json()
    assert progress["download_url"] is None and "Relancez l'export." in progress["outcome"]
    response = luke.get(f"/admin/jobs/{job_id}/download")
    assert response.status_code == 302 and response.location == f"/admin/jobs/{job_id}/"
    page = luke.get(response.location).get_data(as_text=True).replace("&#39;", "'")
    assert "un périmètre que vous n'avez plus" in page


def test_staff_may_download_a_managers_export(as_user, luke_export):
    _, job_id = luke_export
    response = as_user(STAFF).get(f"/admin/jobs/{job_id}/download")
    assert response.status_code == 200 and response.mimetype == "text/csv" and LUKE[0].encode() in response.get_data()
