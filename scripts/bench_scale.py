"""The million-user figures (`make bench-scale`): seed time, list / search / deep page p95, the other
screens, and the CSV export of every user as the background job it is at that size (rows/s, the
worker's peak memory, the download's first byte), on PostgreSQL.

    python scripts/bench_scale.py                                  # 1,000,000 users in database `scale`
    python scripts/bench_scale.py --users 200000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/scale2

Each page is requested through the app (the test client: server-side time, no network), `--runs`
times after warm-ups, and its p50 / p95 compared with the issue's targets. The data is made once and
kept: the seed time of that run is kept beside it (.bench/scale-<db>.json). Exits non-zero on a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import _ensure_postgres_database, bench_config, login, p95, peak_rss_mb  # noqa: E402

from admin_app import create_app  # noqa: E402
from admin_app.extensions import db  # noqa: E402
from admin_app.jobs import runner  # noqa: E402
from admin_app.services import Actor, seed  # noqa: E402
from admin_app.services.jobs import start_export_job  # noqa: E402
from models import Base, Establishment, User  # noqa: E402

COUNT = re.compile(r"Nombre total d'utilisateurs : ([\d\u202f]+)")


def ensure_data(app, url: str, users: int) -> dict:
    """Seed once (timed), then reuse; the seed's figures are kept beside the data."""
    record = ROOT / ".bench" / f"scale-{make_url(url).database}.json"
    with app.app_context():
        _schema_up_to_date(db.engine)
        have = db.session.scalar(select(func.count()).select_from(User).where(User.email.like(f"%@{seed.VOLUME_DOMAIN}")))
        if have == users:  # made before (by this script, or by `flask seed volume` with its own timing)
            db.session.remove()
            return json.loads(record.read_text()) if record.exists() else {"users": users}
        print(f"seeding {users:,} users...", flush=True)
        db.session.remove()
        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
        seed.load_demo(db.session)
        started = time.perf_counter()
        counts = seed.generate_volume(db.session, users)
        seconds = time.perf_counter() - started
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            started_analyze = time.perf_counter()
            conn.execute(text("VACUUM ANALYZE"))
            analyze = time.perf_counter() - started_analyze
        db.session.remove()
    facts = {"seconds": round(seconds, 1), "vacuum_analyze_seconds": round(analyze, 1), **counts}
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps(facts))
    return facts


# Tables the volume data leaves empty: made again when the code's model has changed since the seed.
ACTIVITY_TABLES = ("operation_items", "operations", "jobs")


def _schema_up_to_date(engine) -> None:
    """Create what is missing; a million users are not seeded again for a new column of a table the
    seed leaves empty (operations, jobs): such a table is dropped and created anew. A new column of a
    volume table needs a new seed: said, not hidden."""
    Base.metadata.create_all(engine)
    for table in Base.metadata.sorted_tables:  # indexes added since the seed (create_all skips existing tables)
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    inspector = inspect(engine)
    stale = [table for table in Base.metadata.sorted_tables
             if {c.name for c in table.columns} - {c["name"] for c in inspector.get_columns(table.name)}]
    for table in stale:
        if table.name not in ACTIVITY_TABLES:
            sys.exit(f"the table {table.name} lacks columns added since the seed: drop the database and run again")
    if stale:
        tables = [Base.metadata.tables[name] for name in ACTIVITY_TABLES]
        Base.metadata.drop_all(engine, tables=tables)
        Base.metadata.create_all(engine, tables=list(reversed(tables)))


def timed_get(client, url: str) -> tuple[float, str]:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, response.get_data(as_text=True)


def export_job_probe(url: str) -> None:
    """In a process of its own (its peak memory is the job's): the export of every user as the list
    starts it past EXPORT_JOB_THRESHOLD, run to its end by this process as a worker would, then the
    download's first byte through the app. Prints: job ms, rows, peak MB, download first-byte ms."""
    app = create_app(bench_config(url))
    with app.app_context():
        staff = db.session.scalar(select(User).where(User.email == "staff@example.org"))
        job_id = start_export_job(db.session, Actor(staff), {}, None).id
        db.session.commit()
        started = time.perf_counter()
        status = runner.run_job(job_id)
        job_ms = (time.perf_counter() - started) * 1000
        assert status == "done", status
        db.session.remove()
    client = app.test_client()
    login(client)
    started = time.perf_counter()
    response = client.get(f"/admin/jobs/{job_id}/download", buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    first_ms = (time.perf_counter() - started) * 1000
    rows = first.count(b"\n") + sum(chunk.count(b"\n") for chunk in chunks) - 1  # less the header line
    print(job_ms, rows, peak_rss_mb(), first_ms)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/scale")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--prepare-only", action="store_true", help="seed (once) and stop: the load test's data")
    parser.add_argument("--export-job-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_job_probe:
        export_job_probe(args.database_url)
        return 0
    _ensure_postgres_database(args.database_url)
    app = create_app(bench_config(args.database_url))
    facts = ensure_data(app, args.database_url, args.users)
    if args.prepare_only:
        return 0
    client = app.test_client()
    login(client)
    with app.app_context():
        siren = db.session.scalar(select(Establishment.siren).group_by(Establishment.siren)
                                  .order_by(func.count().desc(), Establishment.siren).limit(1))
        common_name = db.session.scalar(select(User.last_name).group_by(User.last_name).order_by(func.count().desc()).limit(1))
        db.session.remove()

    list_target, search_target, deep_target = 100.0, 150.0, 200.0
    cases = [
        ("users list, unfiltered, page 1", "/admin/users/", list_target),
        ("users list, Actif = oui", "/admin/users/?actif=oui", list_target),
        ("users list, Actif = non", "/admin/users/?actif=non", list_target),
        ("users list, Gestion des utilisateurs", "/admin/users/?habilitation=user_admin", list_target),
        ("users list, the largest company", f"/admin/users/?entreprise={siren}", list_target),
        ("users list, never logged in", "/admin/users/?connexion=jamais", list_target),
        ("users list, no password", "/admin/users/?mot_de_passe=non", list_target),
        (f"name search « {common_name.title()} »", f"/admin/users/?nom={common_name.lower()}", search_target),
        ("name search « martin dupont »", "/admin/users/?nom=martin+dupont", search_target),
        ("users list, page 1,000 (unfiltered)", "/admin/users/?page=999", deep_target),
        ("requests tab (pending)", "/admin/account-requests/", list_target),
        ("requests tab (all)", "/admin/account-requests/?statut=toutes", list_target),
        ("audit trail", "/admin/audit/", list_target),
        ("emails", "/admin/emails/", list_target),
    ]
    results, failed = [], False
    for name, url, target in cases:
        for _ in range(2):
            timed_get(client, url)
        times, html = [], ""
        for _ in range(args.runs):
            elapsed, html = timed_get(client, url)
            times.append(elapsed)
        match = COUNT.search(html)
        count = match.group(1) if match else "-"
        verdict = p95(times) <= target
        failed |= not verdict
        results.append((name, statistics.median(times), p95(times), target, count, verdict))

    export = subprocess.run([sys.executable, __file__, "--database-url", args.database_url, "--export-job-probe"],
                            capture_output=True, text=True, check=True)
    total_ms, rows, peak_mb, first_ms = (float(v) for v in export.stdout.split())
    export_ok = first_ms < 1000 and peak_mb < 150
    failed |= not export_ok

    print(f"\nScale benchmark on PostgreSQL, {args.users:,} users, {args.runs} runs per page ({os.cpu_count()} CPUs)\n")
    if "seconds" in facts:
        print(f"seed: {facts['users']:,} users, {facts['establishments']:,} establishments, {facts['grants']:,} grants, "
              f"{facts['requests']:,} requests, {facts['emails']:,} emails, {facts['audit_events']:,} audit entries "
              f"in {facts['seconds']:.0f} s (+ VACUUM ANALYZE {facts['vacuum_analyze_seconds']:.0f} s); target < 900 s: "
              f"{'PASS' if facts['seconds'] < 900 else 'FAIL'}\n")
        failed |= facts["seconds"] >= 900
    print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'target':>7} {'matches':>10}  result")
    for name, median, high, target, count, verdict in results:
        print(f"{name:44} {median:8.1f} {high:8.1f} {'≤' + format(target, 'g'):>7} {count:>10}  {'PASS' if verdict else 'FAIL'}")
    print(f"\nCSV export of every user, as a job: {int(rows):,} rows in {total_ms / 1000:.1f} s = "
          f"{rows / (total_ms / 1000):,.0f} rows/s, the worker's peak memory {peak_mb:.0f} MB (target < 150); "
          f"the file's first byte {first_ms:.0f} ms after asking for it (target < 1000): {'PASS' if export_ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
