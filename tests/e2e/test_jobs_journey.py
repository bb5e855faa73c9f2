"""A long export in a real browser: from the login page, "Exporter (CSV)" of every matching user above the
threshold becomes a job; the progress page shows the bar, then the outcome, then the file downloads."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from admin_app.jobs import backends
from models import Establishment, User

from ..demo import STAFF
from ..services import factories as f
from .browser import log_in, open_my_users


@pytest.fixture
def long_exports(app, monkeypatch):
    """Jobs from 5 users on, run by the embedded runner as `make run` does, 4 users a chunk."""
    monkeypatch.setitem(app.config, "EXPORT_JOB_THRESHOLD", 5)
    monkeypatch.setitem(app.config, "JOB_CHUNK_SIZE", 4)
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "thread")
    yield
    backends.embedded(app).stop()
    app.extensions.pop("jobs_embedded", None)


def test_an_export_of_every_matching_user_runs_as_a_job_with_a_progress_bar_then_downloads(page, db, long_exports, axe):
    temple = db.session.scalar(select(Establishment).where(Establishment.siret == "11138540700015"))
    for _ in range(30):
        f.user(db.session, [(temple, ())])
    db.session.commit()
    total = db.session.scalar(select(func.count()).select_from(User))

    log_in(page, *STAFF)
    open_my_users(page)
    page.locator("#select-page").check()
    page.get_by_role("button", name=f"Sélectionner les {total} résultats").click()
    page.locator("#bulk-action").select_option(label="Exporter (CSV)")
    page.get_by_role("button", name="Appliquer").click()

    expect(page).to_have_url(re.compile(r"/admin/jobs/\d+/$"))
    expect(page.get_by_text("L'export a démarré")).to_be_visible()
    bar = page.get_by_role("progressbar", name="Progression")
    expect(bar).to_be_visible()
    expect(page.locator("#job-outcome")).to_have_text(f"Terminé : {total} utilisateurs exportés. Le fichier est prêt.",
                                                      timeout=20_000)
    expect(bar).to_have_attribute("aria-valuenow", str(total))
    expect(page.locator("#job-counts")).to_have_text(f"{total} / {total} utilisateurs (100 %)")
    expect(page.get_by_role("button", name="Annuler la tâche")).to_be_hidden()
    page.reload()  # without the flash message, whose close button (Flask-Admin's) axe finds wanting
    problems = axe(page)
    assert problems == [], [(p["id"], [n["html"] for n in p["nodes"]]) for p in problems]

    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le fichier (CSV)").click()
    body = open(download.value.path(), "rb").read().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body), delimiter=";"))
    assert rows[0][:2] == ["Actif", "Nom"] and len(rows) == total + 1
    assert download.value.suggested_filename.startswith("utilisateurs-")
