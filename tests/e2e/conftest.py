"""A real browser (Debian's Chromium, driven by Playwright) against the app served on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .browser import watch_console

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
