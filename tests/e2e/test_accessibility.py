"""axe-core on the main screens: no violation of impact "serious" or "critical", French everywhere."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import User

from ..demo import LUKE, STAFF
from .browser import log_in, open_my_users


def describe(violations):
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}" for v in violations)


# An audit, not a journey: it types each screen's URL on purpose, to scan a fixed list of pages.
@pytest.mark.parametrize(
    "who, path",
    [
        (None, "/login"),
        (None, "/account/request"),
        (None, "/account/forgot-password"),
        (STAFF, "/admin/users/"),
        (STAFF, "/admin/users/edit/?id={luke}"),
        (STAFF, "/admin/users/new/"),
        (STAFF, "/admin/users/details/?id={luke}"),
        (STAFF, "/admin/account-requests/"),
        (STAFF, "/admin/habilitations/"),
        (STAFF, "/admin/"),
        (LUKE, "/account/profile"),
    ],
)
def test_no_serious_accessibility_violation(page, axe, db, who, path):
    if who:
        log_in(page, *who)
    luke = db.session.scalar(select(User.id).where(User.email == LUKE[0]))
    page.goto(path.format(luke=luke))  # typed on purpose: the audit's list, see above
    assert page.locator("html").get_attribute("lang") == "fr"
    violations = axe(page)
    assert not violations, describe(violations)


def test_a_rows_actions_sit_in_a_menu_opened_by_keyboard_and_the_list_fits_1366_px(page, axe):
    """One visible action a row ("Éditer"), the others in its "Actions" menu: Enter opens it on its first
    entry, arrows and End move, Escape closes it and gives the focus back; axe finds nothing with it open.
    At 1366 px the establishment cells stay on one line and the table needs no sideways scrolling."""
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, *STAFF)
    open_my_users(page)
    row = page.locator("#users-table tbody tr").filter(has=page.locator("td.col-last_name", has_text="SKYWALKER"))
    expect(row.get_by_role("link", name="Éditer SKYWALKER Luke")).to_be_visible()
    button = row.get_by_role("button", name="Actions pour SKYWALKER Luke")
    menu = row.locator(".row-menu-list")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()

    # In view first, as for a person who sees the row (a scroll landing as the menu opens moves it, never closes it).
    button.scroll_into_view_if_needed()
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name="Voir le profil")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("button", name="Désactiver")).to_be_focused()
    page.keyboard.press("End")
    expect(menu.get_by_role("button", name="Supprimer")).to_be_focused()
    violations = axe(page)
    assert not violations, describe(violations)
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    page.keyboard.press("ArrowDown")  # from the button: opens on the first entry too
    expect(menu.get_by_role("link", name="Voir le profil")).to_be_focused()
    page.keyboard.press("Escape")

    lines = page.eval_on_selector_all(
        "td.col-primary_establishment",
        """cells => cells.filter(c => c.textContent.trim()).map(c => {
             const range = document.createRange(); range.selectNodeContents(c);
             return new Set(Array.from(range.getClientRects(), r => Math.round(r.top))).size; })""")
    assert lines and all(n == 1 for n in lines), lines
    fits = page.eval_on_selector(".table-responsive", "box => box.scrollWidth <= box.clientWidth")
    assert fits
