"""`PORT=... make run`, as a newcomer uses it: the app serves on PORT, the console mail backend prints each
email decoded, and the link printed there opens the page on that very server (BASE_URL follows PORT)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from .databases import ON_POSTGRES
from .servers import free_port

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "admin_app"]


@pytest.mark.skipif(ON_POSTGRES, reason="make run serves SQLite: checked once, in the SQLite pass")
def test_links_printed_by_the_console_backend_open_on_the_port_served(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("BASE_URL", "DATABASE_URL", "REDIS_URL")}
    env.update(PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", MAIL_BACKEND="console",
               SECRET_KEY="make-run-test")
    for command in (["db", "upgrade"], ["seed", "demo-if-empty"]):
        subprocess.run(FLASK + command, env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(FLASK + ["run", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        for _ in range(100):
            try:
                opener.open(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        page = opener.open(f"{base}/account/forgot-password", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"email": "luke.skywalker@example.org", "csrf_token": token}).encode()
        assert "Demande enregistrée" in opener.open(f"{base}/account/forgot-password", data=form, timeout=10).read().decode()
        printed = subprocess.run(FLASK + ["send-mail"], env=env, cwd=ROOT, check=True, capture_output=True, text=True,
                                 timeout=120).stdout
        assert "=C3=A9" not in printed and "Objet : Choisissez un nouveau mot de passe" in printed
        link = re.search(rf"^(http://127\.0\.0\.1:{port}/account/set-password/\S+)$", printed, re.M).group(1)
        opened = opener.open(link, timeout=10).read().decode()
        assert "Nouveau mot de passe" in opened
    finally:
        server.terminate()
        server.wait(timeout=10)
