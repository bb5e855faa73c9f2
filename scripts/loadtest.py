"""Load test: concurrent staff sessions against a served instance on 127.0.0.1 (`make loadtest`).

Each session logs in, then for DURATION seconds mixes list filters, details pages, edits of its
own users (with optimistic locking) and bulk deactivate/activate of its own users. With --job, the
first session starts the export of every user as a background job before working, and its progress is
read at the end (the job workers must be running: `make loadtest` starts one). At the end it checks
that nothing was lost: every edit a session saw succeed is in the database and in the audit trail, and
no response was a 5xx. Only 127.0.0.1 is ever contacted.

    python scripts/loadtest.py --base-url http://127.0.0.1:8000 --database-url postgresql+psycopg://... \\
        --sessions 20 --duration 60
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, func, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import AuditEvent, Job, User  # noqa: E402

RUN = int(time.time())
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
VERSION = re.compile(r'id="version" name="version" type="hidden" value="(\d+)"')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Session:
    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self.timings: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.last_location: str | None = None

    def call(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        start = time.perf_counter()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:
                status, html = response.status, response.read().decode()
        except urllib.error.HTTPError as error:  # redirects too: NoRedirect hands them back as errors
            status, html = error.code, error.read().decode(errors="replace")
            self.last_location = error.headers.get("Location")
        self.timings.append((time.perf_counter() - start) * 1000)
        self.statuses[status] += 1
        return status, html

    def token(self, path: str) -> str:
        return CSRF.search(self.call(path)[1]).group(1)


def run_session(base: str, index: int, user_ids: list[int], deadline: float, results: dict, job: bool) -> None:
    s = Session(base)
    results[index] = {"session": s, "edits": {}, "saved": 0, "refused": 0, "paired": set(), "failure": None, "job": None}
    try:
        _work(s, index, user_ids, deadline, results[index], job)
    except Exception as exc:  # counted, not lost with the thread: the run fails
        results[index]["failure"] = f"session {index}: {exc!r}"


def _work(s: Session, index: int, user_ids: list[int], deadline: float, result: dict, job: bool) -> None:
    rng = random.Random(index)
    token = s.token("/login")
    status, _ = s.call("/login", {"email": "staff@example.org", "password": "demo-staff-2026", "csrf_token": token})
    if status != 302:
        raise RuntimeError(f"login failed ({status})")
    if job:
        result["job"] = _start_export_job(s)
    edits: dict[int, str] = result["edits"]  # the last title this session saved, per user
    saved = refused = 0
    filters = ["?actif=oui", "?habilitation=user_admin&actif=oui", "?entreprise=garage", "?search=martin",
               "?connexion=jamais&page_size=50", "?sort=6&desc=1", "?nom=camille&page_size=100"]
    n = 0
    while time.time() < deadline:
        n += 1
        choice = rng.random()
        if choice < 0.45:
            s.call("/admin/users/" + rng.choice(filters))
        elif choice < 0.65:
            s.call(f"/admin/users/details/?id={rng.choice(user_ids)}")
        elif choice < 0.9:
            uid = rng.choice(user_ids)
            status, html = s.call(f"/admin/users/edit/?id={uid}")
            fields = dict(re.findall(r'<input[^>]*id="(last_name|first_name|email|phone)"[^>]*value="([^"]*)"', html))
            version = VERSION.search(html).group(1)
            civility = "Mme" if 'value="Mme" checked' in html or 'checked class="form-check-input" id="civility-1"' in html else "M."
            title = f"Poste {RUN}-{index}-{n}"  # unique across runs: every save is a real change
            data = {"civility": civility, "version": version, "job_title": title, "csrf_token": CSRF.search(html).group(1)}
            data.update({k: v.replace("&#39;", "'") for k, v in fields.items()})
            status, _ = s.call(f"/admin/users/edit/?id={uid}", data)
            if status == 302:
                edits[uid] = title
                result["saved"] = saved = saved + 1
            else:
                result["refused"] = refused = refused + 1
        else:
            chosen = rng.sample(user_ids, 3)
            result["paired"].update(chosen)  # deactivated then activated: all active at the end
            token = s.token("/admin/users/")
            for action in ("deactivate", "activate"):
                s.call("/admin/users/action/", {"csrf_token": token, "action": action, "url": "/admin/users/",
                                                "rowid": [str(i) for i in chosen]})


def _start_export_job(s: Session) -> str:
    """"Exporter (CSV)" of every user, as the list's button sends it: past the threshold, the answer is the
    job's progress page. Returns the job's progress URL."""
    token = s.token("/admin/users/")
    status, _ = s.call("/admin/users/action/", {"csrf_token": token, "action": "export", "all_matching": "1",
                                                "url": "/admin/users/"})
    location = s.last_location
    if status != 302 or "/admin/jobs/" not in (location or ""):
        raise RuntimeError(f"the export did not start as a job ({status}, {location})")
    return urllib.parse.urlsplit(location).path + "progress"


def job_state(s: Session, progress_path: str) -> dict:
    status, body = s.call(progress_path)
    if status != 200:
        raise RuntimeError(f"the job's progress answered {status}")
    return json.loads(body)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--job", action="store_true", help="one export of every user runs as a job meanwhile")
    args = parser.parse_args()
    if not re.match(r"^http://(127\.0\.0\.1|localhost)(:\d+)?$", args.base_url):
        sys.exit("the load test only targets this machine (127.0.0.1)")

    engine = create_engine(args.database_url)
    if args.job:
        # Jobs an earlier run left (its worker stopped with it) would resume first: the one export measured
        # must not wait behind them. A harness's clean-up, before any session starts.
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.status.in_(["queued", "running"]))
                         .values(status="cancelled", finished_at=func.now(), worker=None))
    with engine.connect() as conn:
        ids = list(conn.scalars(select(User.id).where(User.email.like("%@volume.example.org")).order_by(User.id).limit(args.sessions * 25)))
        audit_before = conn.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.update"))
    per_session = [ids[i::args.sessions] for i in range(args.sessions)]  # each session edits its own users
    deadline = time.time() + args.duration
    results: dict = {}
    threads = [threading.Thread(target=run_session, args=(args.base_url, i, per_session[i], deadline, results, args.job and i == 0))
               for i in range(args.sessions)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started

    timings = [ms for r in results.values() for ms in r["session"].timings]
    statuses = sum((r["session"].statuses for r in results.values()), Counter())
    errors = sum(count for status, count in statuses.items() if status >= 500)
    successful_edits = sum(r["saved"] for r in results.values())
    last_values = sum(len(r["edits"]) for r in results.values())
    lost = 0
    with engine.connect() as conn:
        for r in results.values():
            for uid, title in r["edits"].items():
                if conn.scalar(select(User.job_title).where(User.id == uid)) != title:
                    lost += 1
        audit_after = conn.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.update"))
        paired = sorted(set().union(*(r["paired"] for r in results.values())))
        left_inactive = conn.scalar(select(func.count()).select_from(User).where(User.id.in_(paired), User.active.is_(False)))
    edit_requests = successful_edits + sum(r["refused"] for r in results.values())
    ordered = sorted(timings)
    print(f"{len(timings)} requests in {elapsed:.0f} s ({len(timings) / elapsed:.0f}/s) from {args.sessions} sessions")
    print(f"median {statistics.median(timings):.0f} ms, p95 {ordered[int(0.95 * (len(ordered) - 1))]:.0f} ms, "
          f"max {ordered[-1]:.0f} ms; statuses {dict(sorted(statuses.items()))}")
    print(f"edits: {edit_requests} sent, {successful_edits} saved, each with its audit entry: {audit_after - audit_before}; "
          f"last value of each edited user found in the database: {last_values - lost}/{last_values}")
    failures = [r["failure"] for r in results.values() if r["failure"]]
    job_ok = True
    if args.job and results[0]["job"]:
        state = job_state(results[0]["session"], results[0]["job"])
        job_ok = state["status"] in ("running", "done") and state["done"] > 0
        print(f"export job: {state['status_label']}, {state['text']}, {state['rate_text'] or '-'}")
    print(f"5xx responses: {errors}; bulk deactivate/activate pairs: {len(paired)} users, left deactivated: {left_inactive}; "
          f"failed sessions: {len(failures)}")
    for failure in failures:
        print("  " + failure)
    ok = job_ok and errors == 0 and lost == 0 and audit_after - audit_before == successful_edits and not failures and left_inactive == 0
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
