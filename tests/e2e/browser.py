"""Helpers of the browser journeys: watching a page's console, logging in, and the guide's first clicks."""

from __future__ import annotations

import re

from ..demo import STAFF_NAME

USERS_LIST = re.compile(r"/admin/users/(\?.*)?$")


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

