"""Servers beside the test app: a free port, a real SMTP inbox (the `smtp` fixture's), and more workers of the
test app sharing one rate-limit storage."""

from __future__ import annotations

import email
import re
import socket
from contextlib import contextmanager
from email.policy import default

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db as app_db
from admin_app.extensions import limiter

LINK = re.compile(r"https?://[^/\s]+(/account/[a-z-]+/[A-Za-z0-9._-]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=default))
        return "250 OK"

    def link(self, subject: str) -> str:
        message = next(m for m in reversed(self.messages) if m["Subject"] == subject)
        return LINK.search(message.get_body(("plain",)).get_content()).group(1)


@contextmanager
def workers_on(app, database_url, storage_uri, count=1):
    """Apps like the test app but counting limits in `storage_uri`; the test app's limiter is restored after.

    Flask-Limiter keeps one storage per Limiter, the last app initialised wins: without the restore,
    later tests would count in this storage (and `limiter.reset()` clear it).
    """
    workers = []
    for _ in range(count):
        config = TestingConfig(database_url)
        config.RATELIMIT_STORAGE_URI = storage_uri
        workers.append(create_app(config))
    try:
        yield workers
    finally:
        for worker in workers:
            with worker.app_context():
                app_db.engine.dispose()
        limiter.init_app(app)
        limiter._storage_dead = False  # no public way: the fallback flag outlives the storage it was about
