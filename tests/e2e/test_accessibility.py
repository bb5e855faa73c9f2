"""axe-core on the main screens: no violation of impact "serious" or "critical", French everywhere."""

import pytest
from sqlalchemy import select

from models import User

from ..conftest import STAFF
from .conftest import log_in

LUKE = ("luke.skywalker@example.org", "demo-luke-2026")


def describe(violations):
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}" for v in violations)


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
    page.goto(path.format(luke=luke))
    assert page.locator("html").get_attribute("lang") == "fr"
    violations = axe(page)
    assert not violations, describe(violations)
