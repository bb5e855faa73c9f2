"""Service tests call the services directly, with the app's session inside an app context
(services render their emails with the app's templates and read its configuration)."""

from __future__ import annotations

import pytest

from admin_app.extensions import db as _db


@pytest.fixture
def session(app):
    with app.app_context():
        yield _db.session
        _db.session.rollback()
        _db.session.remove()
