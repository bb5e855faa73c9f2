"""Regenerate docs/screenshots/*.png from the demo data with the test browser (`make screenshots`)."""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db
from admin_app.jobs import export
from admin_app.services import Actor, seed
from admin_app.services.jobs import create as create_job
from models import AccountRequest, JobKind, JobStatus, User, utcnow

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync"]


def open_name_menu(page) -> None:
    """Click the name in the top bar, as the guide says, and wait for its menu."""
    page.click("#user-menu-button")
    page.wait_for_selector("#user-menu-list", state="visible")


def open_row_menu(page) -> None:
    """A row's "⋯" button: its other actions in a compact menu."""
    page.locator("[data-row-menu-button]").first.click()
    page.wait_for_selector(".row-menu-list:not([hidden])", state="visible")


def type_company(page) -> None:
    """The grant editor's company type-ahead: name, SIREN, city and establishments in each suggestion."""
    page.fill("#grant-company", "cabinet")
    page.wait_for_selector("#grant-company-list [role=option]", state="visible")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp())
    app = create_app(TestingConfig(f"sqlite:///{workdir / 'demo.db'}"))
    with app.app_context():
        db.create_all()
        seed.load_demo(db.session)
        # Some volume beside the guide's cast: the company picker among many companies, the job page.
        seed.generate_volume(db.session, 3_000)
        job = _running_export(db.session)
        luke = db.session.scalar(select(User.id).where(User.email == "luke.skywalker@example.org"))
        boba = db.session.scalar(select(AccountRequest.id).where(AccountRequest.last_name == "FETT"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    shots = [
        ("staff", "users-list.png", "/admin/users/?actif=oui&habilitation=user_admin", None),
        ("staff", "user-edit.png", f"/admin/users/edit/?id={luke}", None),
        ("staff", "user-details.png", f"/admin/users/details/?id={luke}", None),
        ("staff", "requests.png", "/admin/account-requests/", None),
        ("staff", "refusal.png", f"/admin/account-requests/refuse/?ids={boba}", None),
        ("staff", "habilitations.png", "/admin/habilitations/", None),
        ("luke", "profile.png", "/account/profile", None),
        (None, "account-request.png", "/account/request", None),
        ("luke", "luke-landing.png", None, None),  # where the login lands a Gestionnaire: "Mes utilisateurs"
        ("luke", "name-menu.png", "/account/profile", open_name_menu),
        ("staff", "name-menu-staff.png", "/admin/", open_name_menu),
        ("staff", "users-row-menu.png", "/admin/users/?entreprise=111385407", open_row_menu),
        ("staff", "grant-editor-picker.png", f"/admin/users/edit/?id={luke}", type_company),
        ("staff", "job-progress.png", f"/admin/jobs/{job}/", None),
    ]
    logins = {"staff": ("staff@example.org", "demo-staff-2026"), "luke": ("luke.skywalker@example.org", "demo-luke-2026")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for who, name, path, then in shots:
            context = browser.new_context(base_url=base, viewport={"width": 1366, "height": 900}, locale="fr-FR")
            page = context.new_page()
            if who:
                page.goto("/login")
                page.fill("#email", logins[who][0])
                page.fill("#password", logins[who][1])
                with page.expect_navigation():
                    page.click("button[type=submit]")
            if path:
                page.goto(path)
            if then:
                then(page)
            page.screenshot(path=str(OUT / name), full_page=True)
            print(f"docs/screenshots/{name}")
            context.close()
        browser.close()
    server.shutdown()


def _running_export(session) -> int:
    """An export of every user as it looks while its job runs (the screenshot's fixture: 42 % done)."""
    staff = session.scalar(select(User).where(User.email == "staff@example.org"))
    job = create_job(session, Actor(staff), JobKind.EXPORT_USERS, export.parameters({}, None))
    job.status, job.total, job.done, job.cursor = JobStatus.RUNNING.value, 1_000_007, 420_000, {}
    job.started_at = utcnow() - timedelta(seconds=48)
    job.heartbeat_at = utcnow()
    session.commit()
    return job.id


if __name__ == "__main__":
    sys.exit(main())
