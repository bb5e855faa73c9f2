"""Service tests call the services directly, with the app's session inside an app context (the `session`
fixture, in tests/conftest.py: services render their emails with the app's templates and read its configuration)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher


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


@pytest.fixture
def small_chunks(app, monkeypatch):
    """Background jobs of three users a chunk, run by the test itself (no backend)."""
    monkeypatch.setitem(app.config, "JOB_CHUNK_SIZE", 3)
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "off")
