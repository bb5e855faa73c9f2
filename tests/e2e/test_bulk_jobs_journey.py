"""A bulk action past BULK_JOB_THRESHOLD in a real browser, with the embedded runner (`make run`): "Désactiver"
every matching user becomes a job; its page shows the bar, then the result in the words of the synchronous
message, then « Annuler cette opération », which takes back exactly what the job changed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from admin_app.jobs import backends
from models import Establishment, Operation, User

from ..demo import STAFF
from ..services import factories as f
from .browser import log_in, open_my_users


@pytest.fixture
def bulk_jobs(app, monkeypatch):
    """Jobs from 6 users on, run by the embedded runner as `make run` does, 4 users a chunk."""
    monkeypatch.setitem(app.config, "BULK_JOB_THRESHOLD", 5)
    monkeypatch.setitem(app.config, "JOB_CHUNK_SIZE", 4)
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "thread")
    yield
    backends.embedded(app).stop()
    app.extensions.pop("jobs_embedded", None)


def test_deactivating_every_matching_user_as_a_job_then_undoing_it_from_its_page(page, db, bulk_jobs, axe):
    temple = db.session.scalar(select(Establishment).where(Establishment.siret == "11138540700015"))
    for n in range(30):
        f.user(db.session, [(temple, ())], active=n >= 6)  # never logged in; 6 already inactive
    db.session.commit()
    never = select(User.id).where(User.last_login_at.is_(None))
    matching = db.session.scalar(select(func.count()).where(User.id.in_(never)))
    already_ids = set(db.session.scalars(select(User.id).where(User.id.in_(never), User.active.is_(False))))
    changed = matching - len(already_ids)

    log_in(page, *STAFF)
    open_my_users(page)
    page.get_by_text("Plus d'options de filtre").click()
    page.get_by_label("Dernière connexion").select_option(label="Jamais connecté")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("#user-count")).to_have_text(f"Nombre total d'utilisateurs : {matching}")
    page.get_by_role("link", name="20", exact=True).click()  # 20 a page: more than one page
    expect(page).to_have_url(re.compile(r"connexion=jamais&.*page_size=20$"))  # a tick on the page before would be lost
    page.wait_for_load_state("load")
    page.locator("#select-page").check()
    page.get_by_role("button", name=f"Sélectionner les {matching} résultats").click()
    page.locator("#bulk-action").select_option(label="Désactiver")
    page.get_by_role("button", name="Appliquer").click()

    expect(page).to_have_url(re.compile(r"/admin/jobs/\d+/$"))
    expect(page.get_by_text(f"L'action porte sur {matching} utilisateurs")).to_be_visible()
    expect(page.get_by_role("progressbar", name="Progression")).to_be_visible()
    already = len(already_ids)
    expect(page.locator("#job-outcome")).to_have_text(
        f"{changed} utilisateurs désactivés, {already} l'étaient déjà.", timeout=20_000)
    undo = page.locator("#job-undo").get_by_role("button", name="Annuler cette opération")
    expect(undo).to_be_visible()  # shown by static/jobs.js when the job ended
    expect(page.get_by_role("link", name="Voir l'opération")).to_be_visible()
    page.reload()  # without the flash message, whose close button (Flask-Admin's) axe finds wanting
    expect(undo).to_be_visible()
    problems = axe(page)
    assert problems == [], [(p["id"], [n["html"] for n in p["nodes"]]) for p in problems]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(User.id.in_(never), User.active.is_(True))) == 0

    undo.click()
    expect(page.get_by_text(f"Opération annulée : {changed} utilisateurs rétablis.")).to_be_visible()
    expect(page.locator("#job-undo")).to_be_hidden()
    db.session.expire_all()
    assert set(db.session.scalars(select(User.id).where(User.id.in_(never), User.active.is_(False)))) == already_ids
    operation = db.session.scalar(select(Operation).where(Operation.kind == "deactivate"))
    assert (operation.state, operation.changed, operation.unchanged) == ("done", changed, already)
