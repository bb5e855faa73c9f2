"""Background jobs: the machinery that runs long actions in chunks, with their progress in the database.

`runner` takes a job by a lease and runs it chunk by chunk through its kind's handler (`export`, `bulk`, `undo`,
registered here); `backends` hands jobs to RQ workers or to a thread of the web process. Starting and cancelling
a job are services (admin_app.services.jobs); views/jobs.py shows it.
docs/jobs.md says how it fits together and how production runs the workers.
"""

from __future__ import annotations

from flask import Flask

from models import JobKind

from . import backends, bulk, export, runner, undo

runner.register(JobKind.EXPORT_USERS, export.ExportUsers())
runner.register(JobKind.BULK_USERS, bulk.BulkUsers())
runner.register(JobKind.UNDO_OPERATION, undo.UndoOperation())


def init_app(app: Flask) -> None:
    backends.init_app(app)


__all__ = ["backends", "bulk", "export", "init_app", "runner", "undo"]
