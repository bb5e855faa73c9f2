"""The undo window is one fact: OPERATION_UNDO_HOURS when configured, models.operations.UNDO_HOURS otherwise."""

from __future__ import annotations

from datetime import timedelta

from admin_app.config import Config
from admin_app.services import undo as undo_service
from models.operations import UNDO_HOURS


def test_the_window_is_the_configured_one_or_the_default(monkeypatch):
    assert undo_service.window({"OPERATION_UNDO_HOURS": 2.5}) == timedelta(hours=2.5)
    assert undo_service.window({}) == undo_service.DEFAULT_UNDO_WINDOW == timedelta(hours=UNDO_HOURS)
    monkeypatch.delenv("OPERATION_UNDO_HOURS", raising=False)
    assert Config().OPERATION_UNDO_HOURS == UNDO_HOURS
    assert undo_service.expired_message(timedelta(hours=2.5)).startswith("Cette opération date de plus de 2.5 h")
