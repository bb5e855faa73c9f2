"""Production plumbing: no email-link token in any access log (a real gunicorn, Werkzeug's server), and the
client's real address behind TRUSTED_PROXIES reverse proxies (the audit and the per-IP login limit)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import create_engine, select
from werkzeug.serving import make_server

from admin_app.access_logs import HideLinkTokens, hide_link_tokens
from admin_app.config import ROOT, trusted_proxies
from models import AuditEvent, Base

from .http import login
from .servers import free_port, workers_on

# What an itsdangerous token looks like: payload, timestamp and signature, URL-safe base64 joined by dots.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}")


def token(n: int) -> str:
    return URLSafeTimedSerializer("not-the-app-key", salt="log-test").dumps([n, f"secret-nonce-{n}"])


def link_paths() -> dict[str, str]:
    """One link per email-link page, today's and a purpose added later (it is masked without being listed)."""
    return {token(n): path for n, path in enumerate(
        ("/account/verify/{}", "/account/set-password/{}", "/account/confirm-attachment/{}",
         "/account/email-change/{}", "/account/verify%2F{}"))}


def assert_no_token(text: str, tokens) -> None:
    for value in tokens:
        assert value not in text
        assert value.split(".")[-1] not in text  # not even the signature alone
    assert not TOKEN_SHAPE.search(text), TOKEN_SHAPE.search(text).group(0)


@pytest.mark.parametrize("value, expected", [
    ("GET /account/verify/abc.def.ghi HTTP/1.1", "GET /account/verify/… HTTP/1.1"),
    ("/account/set-password/abc.def.ghi?x=1", "/account/set-password/…?x=1"),
    ("https://h/account/confirm-attachment/abc.def\"", "https://h/account/confirm-attachment/…\""),
    ("/login?next=%2Faccount%2Fset-password%2Fabc.def&y=2", "/login?next=%2Faccount%2Fset-password%2F…&y=2"),
    ("GET /account/profile HTTP/1.1", "GET /account/profile HTTP/1.1"),
    ("GET /account/request HTTP/1.1", "GET /account/request HTTP/1.1"),
    ("GET /admin/users/?search=verify HTTP/1.1", "GET /admin/users/?search=verify HTTP/1.1"),
])
def test_the_mask_covers_every_account_link_and_nothing_else(value, expected):
    assert hide_link_tokens(value) == expected


def test_the_filter_masks_gunicorns_dict_of_atoms_in_place():
    from gunicorn.glogging import SafeAtoms

    secret = token(1)
    atoms = SafeAtoms({"r": f"GET /account/verify/{secret} HTTP/1.1", "U": f"/account/verify/{secret}", "s": 200,
                       "{referer}i": f"http://h/account/set-password/{secret}", "f": f"http://h/account/set-password/{secret}"})
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(r)s" %(s)s "%(f)s" %(U)s %({x-missing}i)s',
                               (atoms,), None)
    assert HideLinkTokens().filter(record)
    message = record.getMessage()
    assert secret not in message and "/account/verify/…" in message and '"http://h/account/set-password/…"' in message
    assert message.endswith(" -")  # still gunicorn's dict: a missing atom is "-"


def _wait_for(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _answers(base: str) -> bool:
    try:
        return _get(f"{base}/healthz") == 200
    except OSError:
        return False


def test_a_real_gunicorn_access_log_holds_no_link_token(tmp_path):
    database = tmp_path / "app.db"
    engine = create_engine(f"sqlite:///{database}")
    Base.metadata.create_all(engine)
    engine.dispose()
    access_log = tmp_path / "access.log"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "TRUSTED_PROXIES")}
    env.update(DATABASE_URL=f"sqlite:///{database}", SECRET_KEY="gunicorn-log-test", JOBS_BACKEND="off",
               EXPORT_DIR=str(tmp_path / "exports"), MAIL_BACKEND="console")
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py", "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--access-logfile", str(access_log), "admin_app:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    links = link_paths()
    try:
        _wait_for(lambda: _answers(base) or gunicorn.poll() is not None, what="gunicorn")
        assert gunicorn.poll() is None, gunicorn.stderr.read().decode()
        for secret, path in links.items():
            url = base + path.format(secret)
            _get(url)
            _get(f"{base}/static/app.css", headers={"Referer": url})  # a page's assets name the page
            _get(url, data=b"csrf_token=x")  # the form's POST goes to the link's own address
        _get(f"{base}/login?next=%2Faccount%2Fset-password%2F{token(99)}")
        _wait_for(lambda: access_log.exists() and access_log.read_text().count("\n") >= 3 * len(links) + 2,
                  what="the access log's lines")
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    log = access_log.read_text()
    assert_no_token(log, [*links, token(99)])
    for path in ("/account/verify/…", "/account/set-password/…", "/account/confirm-attachment/…",
                 "/account/email-change/…", "/account/verify%2F…", "%2Faccount%2Fset-password%2F…"):
        assert path in log  # the requests were logged, masked
    assert f'"http://127.0.0.1:{port}/account/confirm-attachment/…"' in log  # the Referer atom too


def test_werkzeugs_server_log_holds_no_link_token(app, caplog):
    server = make_server("127.0.0.1", free_port(), app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    links = link_paths()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for secret, path in links.items():
                _get(f"http://127.0.0.1:{server.server_port}" + path.format(secret))
    finally:
        server.shutdown()
        thread.join()
    logged = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert len(logged) == len(links) and all("/account/" in line for line in logged)
    assert_no_token("\n".join(logged), links)


# --- the client's address behind reverse proxies ----------------------------------------------------------

PROXY, CLIENT, OTHER_CLIENT, FORGED = "10.0.0.1", "203.0.113.7", "203.0.113.8", "198.51.100.66"


def forwarded_for(client: str, proxies: int) -> str:
    """X-Forwarded-For as it reaches the app: a value the client forged, then one entry per proxy (the first
    proxy appends the client's address, each further one the previous proxy's)."""
    return ", ".join([FORGED, client, *(f"10.0.0.{9 + n}" for n in range(proxies - 1))])


def visitor(worker, client: str, proxies: int):
    test_client = worker.test_client()
    # Over HTTPS, Flask-WTF also wants a same-origin Referer on a POST (browsers send it: Referrer-Policy same-origin).
    test_client.environ_base.update(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for(client, proxies),
                                    HTTP_X_FORWARDED_PROTO="https", HTTP_REFERER="https://localhost/login")
    return test_client


def failed_login_ip(db, email: str) -> str:
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent.ip).where(AuditEvent.action == "login.failure",
                                                          AuditEvent.target_label == email)).one()


@pytest.mark.parametrize("proxies, seen", [(0, PROXY), (1, CLIENT), (2, CLIENT)])
def test_the_audit_of_a_failed_login_records_the_clients_address(app, database_url, demo, db, monkeypatch, proxies, seen):
    monkeypatch.setenv("TRUSTED_PROXIES", str(proxies))
    with workers_on(app, database_url, "memory://") as (worker,):
        email = f"personne-{proxies}@example.org"
        assert login(visitor(worker, CLIENT, max(proxies, 1)), email, "mauvais mot de passe").status_code == 200
    assert failed_login_ip(db, email) == seen


@pytest.mark.parametrize("proxies", [0, 1, 2])
def test_the_per_ip_login_limit_counts_each_client_behind_the_proxies(app, database_url, demo, monkeypatch, proxies):
    monkeypatch.setenv("TRUSTED_PROXIES", str(proxies))
    with workers_on(app, database_url, "memory://") as (worker,):
        worker.config["LOGIN_LIMIT_PER_IP"] = "3 per 15 minutes"
        hops = max(proxies, 1)
        first = [login(visitor(worker, CLIENT, hops), f"u{i}@example.org", "mauvais").status_code for i in range(4)]
        other = login(visitor(worker, OTHER_CLIENT, hops), "v@example.org", "mauvais").status_code
    assert first == [200, 200, 200, 429]
    # Without a trusted proxy the header is the client's word: another "client" is the same address, refused too.
    assert other == (429 if proxies == 0 else 200)


@pytest.mark.parametrize("value, expected", [("", 0), ("0", 0), ("2", 2), (" 1 ", 1)])
def test_trusted_proxies_reads_a_count(monkeypatch, value, expected):
    monkeypatch.setenv("TRUSTED_PROXIES", value)
    assert trusted_proxies() == expected


@pytest.mark.parametrize("value", ["-1", "yes", "1.5", "²"])
def test_trusted_proxies_refuses_anything_but_a_count(monkeypatch, value):
    monkeypatch.setenv("TRUSTED_PROXIES", value)
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        trusted_proxies()
