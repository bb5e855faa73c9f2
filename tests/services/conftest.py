"""Service tests call the services directly, with the app's session inside an app context
(services render their emails with the app's templates and read its configuration)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from admin_app.extensions import db as _db


@pytest.fixture
def session(app):
    with app.app_context():
        yield _db.session
        _db.session.rollback()
        _db.session.remove()


@pytest.fixture
def argon2_checks(monkeypatch):
    """The hashes argon2 verified a password against, in order (the real verification still runs)."""
    checked = []
    original = PasswordHasher.verify

    def spy(self, hash, password):
        checked.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return checked
