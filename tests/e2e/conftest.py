"""A real browser (Debian's Chromium, driven by Playwright) against the app served on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

STAFF_NAME = "Leia ORGANA"  # STAFF's name in the top bar
USERS_LIST = re.compile(r"/admin/users/(\?.*)?$")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync", "--disable-quic"]


def _unavailable(reason: str):
    # CI must run the browser journeys: there, a missing browser is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests: `make test` installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        _unavailable("Chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(app):
    """Serve the test app (its own database) on a free port of 127.0.0.1."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the test output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url  # links in emails point at this server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    app.config["BASE_URL"] = "http://localhost"


@pytest.fixture
def page(browser, live_server, demo):
    context = browser.new_context(base_url=live_server, locale="fr-FR", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() of deletions and bulk actions
    problems = watch_console(page)
    yield page
    context.close()
    assert not problems, f"errors in the browser's console on the pages visited: {problems}"


# Run in every page before its own scripts: a refusal of the CSP is also an event, reported whatever the console says.
REPORT_CSP = """document.addEventListener("securitypolicyviolation", (e) => console.error(
    `CSP report: ${e.violatedDirective} refused ${e.blockedURI || "inline code"} (${e.sourceFile}:${e.lineNumber})`));"""


def watch_console(page) -> list[str]:
    """Collect what no page may cause: console errors (a CSP refusal is one), CSP reports, uncaught exceptions.

    Every test fails on them (the fixture's teardown). One exception: a document the test opened on purpose
    that answers 4xx (the 403 and 404 pages): Chromium logs its status, which the test itself asserts.
    """
    problems: list[str] = []
    documents: set[str] = set()
    page.add_init_script(REPORT_CSP)
    page.on("response", lambda response: documents.add(response.url) if response.request.resource_type == "document" else None)

    def on_console(message) -> None:
        if message.type != "error" and "Content Security Policy" not in message.text:
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and url in documents:
            return
        problems.append(f"{message.type}: {message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    return problems


@pytest.fixture
def axe():
    if not AXE.exists():
        _unavailable("axe-core is not installed (npm install)")
    source = AXE.read_text(encoding="utf-8")

    def check(page) -> list[dict]:
        page.evaluate(source)  # evaluated through the driver: the page's CSP (no inline scripts) stays on
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]

    return check


def log_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


# Browser journeys start where a person starts: the login page (log_in), then clicks. A test types a URL only to
# follow a link received by email, to play an attacker forging one, or in the accessibility audit's list of pages,
# and says so where it does.

def open_name_menu(page, name: str = STAFF_NAME):
    """Click the name in the top bar (the guide: « Cliquez sur votre nom »); return the menu it opened."""
    from playwright.sync_api import expect

    page.wait_for_load_state("domcontentloaded")  # a click can land before the page's scripts ran
    page.get_by_role("button", name=name, exact=True).click()
    menu = page.locator("#user-menu-list")
    expect(menu).to_be_visible()
    return menu


def open_my_users(page, name: str = STAFF_NAME) -> None:
    """« Cliquez sur votre nom → Cliquez sur « Mes utilisateurs » », from any page but the list itself."""
    from playwright.sync_api import expect

    open_name_menu(page, name).get_by_role("link", name="Mes utilisateurs", exact=True).click()
    expect(page).to_have_url(USERS_LIST)
    page.wait_for_load_state()  # its scripts ran (the selection, the pickers), as after a typed URL

