"""The hostile review's race replayed as it was found: a real gunicorn with four workers on PostgreSQL, Obi-Wan
(« Gestion des utilisateurs » on Temple JEDI) deactivating users at the very moment staff make them Gestionnaire.

Whatever the interleaving, a deactivation may stand only if it came first: decided before the grant save, it is
the user's first change (its item keeps version + 1); after it, it must be refused (Obi-Wan does not govern a
Gestionnaire). Before the locking rule, a deactivation landing within milliseconds of the save stood in 13 of 48
tries. Each round releases both requests together (a barrier); every wait is bounded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db as app_db
from admin_app.services import seed
from models import Base, Establishment, Grant, OperationItem, User

from .databases import ON_POSTGRES, scratch_database
from .demo import OBIWAN, STAFF, TEMPLE
from .servers import free_port

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL: gunicorn's workers racing on PostgreSQL"),
]
ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 24
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


class Browser:
    """One person's cookies against the real server (urllib: no test client, no shared app context)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, data: dict) -> int:
        body = urllib.parse.urlencode(data, doseq=True).encode()
        request = urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def token(self, path: str) -> str:
        match = CSRF.search(self.get(path))
        return match.group(1) or match.group(2)

    def login(self, email: str, password: str) -> None:
        self.post("/login", {"email": email, "password": password, "csrf_token": self.token("/login")})


def name(n: int) -> str:
    return "RACE" + chr(65 + n // 26) + chr(65 + n % 26)  # names are letters only


def post_together(barrier: threading.Barrier, statuses: list, browser: Browser, path: str, data: dict) -> None:
    barrier.wait()
    statuses.append((path, browser.post(path, data)))


def prepared_database(url: str) -> tuple[list[int], int]:
    """The demo cast and ROUNDS users with Prise en charge on Temple JEDI; their ids and Temple's."""
    app = create_app(TestingConfig(url))
    with app.app_context():
        Base.metadata.create_all(app_db.engine)
        seed.load_demo(app_db.session)
        session = app_db.session
        temple = session.scalar(select(Establishment).where(Establishment.siret == TEMPLE))
        users = []
        for n in range(ROUNDS):
            user = User(civility="M.", last_name=name(n), first_name="Trooper", email=f"race{n}@example.org",
                        phone="0611223344")
            user.grants.append(Grant(establishment=temple, is_primary=True, funding=True))
            session.add(user)
            users.append(user)
        session.commit()
        ids, temple_id = [u.id for u in users], temple.id
        app_db.session.remove()
        app_db.engine.dispose()
    return ids, temple_id


def test_a_deactivation_racing_a_grant_save_stands_only_if_it_came_first(tmp_path):
    with scratch_database(os.environ["TEST_DATABASE_URL"], "race") as url:
        targets, temple = prepared_database(url)
        port = free_port()
        env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "TRUSTED_PROXIES")}
        env.update(DATABASE_URL=url, SECRET_KEY="gunicorn-race-test", JOBS_BACKEND="off", MAIL_BACKEND="console",
                   EXPORT_DIR=str(tmp_path / "exports"))
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py", "--workers", "4",
             "--bind", f"127.0.0.1:{port}", "admin_app:create_app()"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.2)
            assert server.poll() is None, server.stderr.read().decode()
            staff, obiwan = Browser(base), Browser(base)
            staff.login(*STAFF)
            obiwan.login(*OBIWAN)
            statuses = []
            for target in targets:
                edit = f"/admin/users/edit/?id={target}"
                page = staff.get(edit)
                version = page.split('name="version" type="hidden" value="', 1)[1].split('"', 1)[0]
                save = {"civility": "M.", "last_name": name(targets.index(target)), "first_name": "Trooper",
                        "email": f"race{targets.index(target)}@example.org", "phone": "06 11 22 33 44", "job_title": "",
                        "version": version, "csrf_token": staff.token(edit), "grants-present": "1",
                        "grants-establishment": [str(temple)], "grants-primary": str(temple),
                        f"grants-{temple}-manager": "1"}
                deactivate = {"csrf_token": obiwan.token("/admin/users/"), "action": "deactivate", "url": "/admin/users/",
                              "rowid": [str(target)]}
                barrier = threading.Barrier(2, timeout=30)

                threads = [threading.Thread(target=post_together, args=(barrier, statuses, staff, edit, save)),
                           threading.Thread(target=post_together,
                                            args=(barrier, statuses, obiwan, "/admin/users/action/", deactivate))]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(60)
                assert not any(t.is_alive() for t in threads)
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert all(status in (200, 302) for _, status in statuses), statuses  # never a 500

        engine = create_engine(url)
        with Session(engine) as session:
            violations, deactivated = [], 0
            for target in targets:
                user = session.get(User, target)
                if user.active:
                    continue
                deactivated += 1
                item = session.scalars(select(OperationItem).where(OperationItem.user_id == target)).one()
                if item.version_after != 2:  # 1 when created; the grant save came first: refused, or a violation
                    violations.append((target, item.version_after))
            made_managers = session.scalar(select(Grant.id).where(Grant.user_id.in_(targets), Grant.manager.is_(True))
                                           .limit(1))
        engine.dispose()
        assert violations == []
        assert made_managers is not None  # the saves went through: the race was run
