"""The benchmark: each screen against its bare SQL floor, measured in one run (`make bench`).

For each case: warm-ups, then N timed runs of the bare SQL (the floor) and of the full request
through the app's test client, interleaved; median and p95; statements per request; the ratio
median(app) / median(floor) against its target. Exits non-zero when a target is missed.

    python scripts/bench.py                       # 100,000 users on SQLite (.bench/)
    python scripts/bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python scripts/bench.py --quick               # CI: 10,000 users; statements, counts, plans
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, event, func, select, text, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admin_app import create_app  # noqa: E402
from admin_app.config import TestingConfig  # noqa: E402
from admin_app.extensions import db  # noqa: E402
from admin_app.services import Actor, seed  # noqa: E402
from admin_app.services import users as user_service  # noqa: E402
from models import AccountRequest, AuditEvent, Base, Company, Establishment, OutboundEmail, User  # noqa: E402
from views.users import UserView  # noqa: E402

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@dataclass
class Case:
    name: str
    target: float | None  # max ratio app/floor; None: informative
    floor_ms: list[float] = field(default_factory=list)
    tuned_floor_ms: list[float] = field(default_factory=list)  # the app's own query shape, run bare
    app_ms: list[float] = field(default_factory=list)
    statements: int | None = None
    max_statements: int | None = None
    note: str = ""
    ok: bool = True

    @property
    def ratio(self) -> float:
        return statistics.median(self.app_ms) / statistics.median(self.floor_ms)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def bench_config(url: str) -> TestingConfig:
    config = TestingConfig(url)
    config.TESTING = False  # measure what production runs
    config.ARGON2_COST = (1, 64, 1)
    return config


def ensure_data(app, users: int) -> None:
    """Create the schema and the volume data once; later runs reuse them (cached)."""
    with app.app_context():
        Base.metadata.create_all(db.engine)
        have = db.session.scalar(select(func.count()).select_from(User).where(User.email.like("%@volume.example.org")))
        # Data cached by an older version has no history (requests, emails, audit trail): made again.
        history = db.session.scalar(select(func.count()).select_from(OutboundEmail))
        if have != users or history < users:
            print(f"generating {users} users (cached for the next runs)...", flush=True)
            db.session.remove()  # PostgreSQL: DROP waits for any open transaction, even this read's
            Base.metadata.drop_all(db.engine)
            Base.metadata.create_all(db.engine)
            seed.load_demo(db.session)
            seed.generate_volume(db.session, users)
        # Indexes added since the data was cached (create_all only creates missing tables).
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                index.create(db.engine, checkfirst=True)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        db.session.remove()


class StatementCounter:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def _hit(self, *args):
        self.count += 1

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure(case: Case, floor, request, runs: int, warmups: int = 3) -> None:
    for _ in range(warmups):
        floor()
        request()
    for _ in range(runs):  # interleaved: both see the same machine state
        case.floor_ms.append(timed(floor))
        case.app_ms.append(timed(request))


def login(client) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = next(g for g in CSRF.search(html).groups() if g)
    response = client.post("/login", data={"email": "staff@example.org", "password": "demo-staff-2026", "csrf_token": token})
    assert response.status_code == 302, "could not log in as the demo staff account"


def token_of(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return next(g for g in CSRF.search(html).groups() if g)


def users_list_cases(app, client, runs: int, quick: bool) -> list[Case]:
    """Page 1 of the users list filtered by active + Gestion des utilisateurs + one company: the one with
    the most establishments (and users), whose pages are full at every size."""
    with app.app_context():
        siren = db.session.scalar(select(Establishment.siren).group_by(Establishment.siren)
                                  .order_by(func.count().desc(), Establishment.siren).limit(1))
        db.session.remove()
    # T, as the issue measured it: the two bare statements, each filter an IN subquery over grants.
    where = """
        users.active AND users.id IN (SELECT user_id FROM grants WHERE user_admin OR manager)
        AND users.id IN (SELECT user_id FROM grants WHERE establishment_id IN (SELECT id FROM establishments WHERE siren = :siren))"""
    # The app's own shape, run bare: start from the selective side (the company's establishments) and
    # check the habilitation per user through the (user_id, establishment_id) index.
    tuned_where = """
        users.active
        AND users.id IN (SELECT user_id FROM grants WHERE establishment_id IN (SELECT id FROM establishments WHERE siren = :siren))
        AND EXISTS (SELECT 1 FROM grants h WHERE h.user_id = users.id AND (h.user_admin OR h.manager))"""
    columns = """users.*, EXISTS (SELECT 1 FROM grants g WHERE g.user_id = users.id AND g.manager) AS is_manager,
               (SELECT e.name || ' ' || e.siret FROM establishments e JOIN grants g ON g.establishment_id = e.id
                 WHERE g.user_id = users.id AND g.is_primary) AS primary_establishment"""
    order = "ORDER BY users.last_name, users.first_name, users.id LIMIT :size"
    count_sql = text(f"SELECT count(*) FROM users WHERE {where}")
    page_sql = text(f"SELECT {columns} FROM users WHERE {where} {order}")
    tuned_count_sql = text(f"SELECT count(*) FROM users WHERE {tuned_where}")
    tuned_page_sql = text(f"SELECT {columns} FROM users WHERE {tuned_where} {order}")
    cases = []
    with app.app_context():
        engine = db.engine
    expected = None
    for size, target in ((20, None), (50, 1.8), (100, None), (200, 3.0)):
        if size not in UserView.page_size_options:  # the list would serve its default page size instead
            print(f"users list, {size} rows: not measured, the list offers {UserView.page_size_options} rows a page")
            continue
        case = Case(f"users list, filtered, {size} rows", target if not quick else None, max_statements=4)

        def floor(size=size):
            with engine.connect() as conn:
                conn.execute(count_sql, {"siren": siren}).scalar()
                conn.execute(page_sql, {"siren": siren, "size": size}).fetchall()

        url = f"/admin/users/?actif=oui&habilitation=user_admin&entreprise={siren}&page_size={size}"

        def request(url=url):
            response = client.get(url)
            assert response.status_code == 200

        def tuned_floor(size=size):
            with engine.connect() as conn:
                conn.execute(tuned_count_sql, {"siren": siren}).scalar()
                conn.execute(tuned_page_sql, {"siren": siren, "size": size}).fetchall()

        measure(case, floor, request, runs)
        case.tuned_floor_ms = [timed(tuned_floor) for _ in range(runs)]
        with StatementCounter(engine) as counter:
            html = client.get(url).get_data(as_text=True)
        case.statements = counter.count
        shown = int(re.search(r"Nombre total d'utilisateurs : ([\d\u202f]+)", html).group(1).replace("\u202f", ""))
        with engine.connect() as conn:
            expected = conn.execute(count_sql, {"siren": siren}).scalar()
            rows = len(conn.execute(page_sql, {"siren": siren, "size": size}).fetchall())
        listed = len(re.findall(r'<td class="col-last_name">', html))
        case.note = f"count {shown}/{expected}, rows {listed}/{rows}"
        case.ok = shown == expected and listed == rows
        cases.append(case)
    return cases


def replayed_case(app, client, name: str, url: str, runs: int, target: float | None) -> Case:
    """A page against its own SQL replayed bare: what the ORM, Flask and the template add."""
    with app.app_context():
        engine = db.engine
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    client.get(url)
    event.listen(engine, "before_cursor_execute", capture)
    response = client.get(url)
    event.remove(engine, "before_cursor_execute", capture)
    assert response.status_code == 200, (url, response.status_code)

    def floor():
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in captured:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            cursor.close()
        finally:
            raw.close()

    def request():
        assert client.get(url).status_code == 200

    case = Case(name, target, statements=len(captured), max_statements=6)
    measure(case, floor, request, runs)
    case.note = f"SQL {statistics.median(case.floor_ms):.1f} ms, the rest {statistics.median(case.app_ms) - statistics.median(case.floor_ms):.1f} ms"
    return case


def bulk_cases(app, runs: int, quick: bool) -> list[Case]:
    """Deactivating 5,000 selected users (audit included) against one bare UPDATE; "all matching"."""
    cases = []
    with app.app_context():
        engine = db.engine
        session = db.session
        ids = list(session.scalars(select(User.id).where(User.active.is_(True), User.is_staff.is_(False)).order_by(User.id).limit(5000)))
        staff = session.scalar(select(User).where(User.email == "staff@example.org"))
        actor = Actor(staff)
        # The volume data is cached between runs: whoever was inactive is made inactive again at the end.
        inactive = list(session.scalars(select(User.id).where(User.active.is_(False))))

        def reset():
            session.execute(update(User).where(User.id.in_(ids)).values(active=True))
            session.execute(AuditEvent.__table__.delete().where(AuditEvent.action == "user.deactivate"))
            session.commit()

        def floor():
            with engine.begin() as conn:
                conn.execute(update(User).where(User.id.in_(ids)).values(active=False))

        def app_run():
            user_service.set_active(session, actor, ids, False)

        case = Case("bulk deactivate 5,000 selected (+ audit)", None if quick else 2.5)
        count = max(3, runs // 6)
        for _ in range(count):
            reset()
            case.floor_ms.append(timed(floor))
            reset()
            case.app_ms.append(timed(app_run))
        reset()
        changed = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.deactivate"))
        case.note = f"audit rows after reset {changed}"
        cases.append(case)

        # "All matching" on 50,000 users (or all of them in quick mode), through a subquery.
        matching = select(User.id).where(User.email.like("%@volume.example.org")).order_by(User.id).limit(50_000)
        size = session.scalar(select(func.count()).select_from(matching.subquery()))
        all_case = Case(f"deactivate all matching ({size} users)", None)
        for _ in range(2):
            session.execute(update(User).where(User.email.like("%@volume.example.org")).values(active=True))
            session.commit()
            all_case.app_ms.append(timed(lambda: user_service.set_active(session, actor, matching, False)))
            all_case.floor_ms.append(1.0)
        session.execute(update(User).where(User.email.like("%@volume.example.org")).values(active=True))
        for start in range(0, len(inactive), 5000):
            session.execute(update(User).where(User.id.in_(inactive[start:start + 5000])).values(active=False))
        session.execute(AuditEvent.__table__.delete().where(AuditEvent.action == "user.deactivate"))
        session.commit()
        median = statistics.median(all_case.app_ms)
        all_case.note = f"target < 2000 ms ({'SQLite' if engine.dialect.name == 'sqlite' else 'PostgreSQL'})"
        all_case.ok = quick or engine.dialect.name != "sqlite" or median < 2000
        cases.append(all_case)
        db.session.remove()
    return cases


def export_case(url: str) -> Case:
    """CSV export of every user, in a process of its own: time to first bytes, total, peak memory."""
    result = subprocess.run([sys.executable, __file__, "--database-url", url, "--export-probe"], capture_output=True, text=True,
                            check=True)
    first_ms, total_ms, rows, peak_mb = (float(v) for v in result.stdout.split())
    case = Case(f"CSV export of all users ({int(rows)} rows)", None, floor_ms=[1.0], app_ms=[total_ms])
    case.note = f"first bytes {first_ms:.0f} ms of {total_ms:.0f} ms; peak memory {peak_mb:.0f} MB (target < 150)"
    streamed = first_ms < total_ms / 2
    case.ok = streamed and peak_mb < 150
    return case


def export_probe(url: str) -> None:
    app = create_app(bench_config(url))
    client = app.test_client()
    login(client)
    token = token_of(client, "/admin/users/")
    start = time.perf_counter()
    response = client.post("/admin/users/action/", data={"csrf_token": token, "action": "export", "all_matching": "1", "url": "/"},
                           buffered=False)
    chunks = iter(response.response)
    next(chunks)  # the header line is written before the query runs: time the first user row
    next(chunks)
    first_ms = (time.perf_counter() - start) * 1000
    rows = 1
    for chunk in chunks:
        rows += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.encode().count("\n")
    total_ms = (time.perf_counter() - start) * 1000
    print(first_ms, total_ms, rows, peak_rss_mb())


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux carries it across the
    fork and exec that started this process, so it reports the benchmark's own size, not the export's."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def plans(app) -> list[str]:
    with app.app_context():
        engine = db.engine
    return query_plan_problems(engine)


def query_plan_problems(engine) -> list[str]:
    """The plans of the main filters must use indexes: no full scan of users, grants or establishments;
    the other lists read their default order off an index (no full scan and sort of their table);
    on PostgreSQL the search box uses the trigram indexes."""
    from models.queries import UserFilter, name_or_email

    problems = []
    with engine.connect() as conn:
        siren = conn.scalar(select(Company.siren).where(Company.name.like("Entreprise %")).order_by(Company.id).limit(1))
        siret = conn.scalar(select(Establishment.siret).where(Establishment.siren == siren).limit(1))

    checks = {
        "company": UserFilter(entreprise=siren, actif="oui", habilitation="user_admin"),
        "establishment": UserFilter(etablissement=siret),
        "default order": UserFilter(),
    }
    for name, user_filter in checks.items():
        statement = select(User.id).where(*user_filter.clauses()).order_by(User.last_name, User.first_name, User.id).limit(50)
        compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
                bad = re.findall(r"Seq Scan on (users|grants|establishments)\b", plan)
            else:
                plan = "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
                bad = re.findall(r"SCAN (grants|establishments)\b(?! USING)", plan)
                if name != "default order":
                    bad += re.findall(r"SCAN users\b(?! USING)", plan)
        if bad:
            problems.append(f"{name}: full scan of {', '.join(sorted(set(bad)))}\n{plan}")

    list_orders = {
        "requests, every status": select(AccountRequest.id).order_by(AccountRequest.requested_at, AccountRequest.id),
        "requests, pending": select(AccountRequest.id).where(AccountRequest.status == "pending")
        .order_by(AccountRequest.requested_at, AccountRequest.id),
        "audit trail": select(AuditEvent.id).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()),
        "emails": select(OutboundEmail.id).order_by(OutboundEmail.created_at.desc(), OutboundEmail.id.desc()),
    }
    for name, statement in list_orders.items():
        plan = _plan(engine, statement.limit(50))
        if engine.dialect.name == "postgresql":
            bad = re.findall(r"Seq Scan on \w+", plan)  # sorting the few rows an index found is fine
        else:
            bad = re.findall(r"SCAN \w+$|USE TEMP B-TREE FOR ORDER BY", plan, flags=re.MULTILINE)
        if bad:
            problems.append(f"{name}: {', '.join(sorted(set(bad)))} instead of an index in the list's order\n{plan}")

    # A search pages its matches, found first: not a walk of the name index testing each user (slow for
    # a last name, whose matches sit together in that order).
    search_page = select(User.id).where(name_or_email("martin")).order_by(User.last_name, User.first_name, User.id).limit(50)
    plan = _plan(engine, search_page)
    if not re.search(r"InitPlan|LIST SUBQUERY", plan):
        problems.append(f"search box: the name index walked instead of the matches found first\n{plan}")

    if engine.dialect.name == "postgresql":
        # Whether an index can answer LIKE '%part%' (on a small table the planner rightly prefers a scan).
        plan = _plan(engine, select(func.count()).select_from(User).where(name_or_email("skywalker")), "SET LOCAL enable_seqscan = off")
        if "_trgm" not in plan:
            problems.append(f"search box: no trigram index used\n{plan}")
    return problems


def _plan(engine, statement, setting: str | None = None) -> str:
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if setting:
            conn.execute(text(setting))
        if engine.dialect.name == "postgresql":
            return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
        return "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--users", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--quick", action="store_true", help="CI: 10,000 users; statements, counts and plans only")
    parser.add_argument("--prepare-only", action="store_true", help="create the volume data and stop (load test)")
    parser.add_argument("--export-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    users = args.users or (10_000 if args.quick else 100_000)
    runs = args.runs or (10 if args.quick else 30)
    url = args.database_url or f"sqlite:///{ROOT / '.bench' / f'bench-{users}.db'}"
    if args.export_probe:
        export_probe(url)
        return 0
    if url.startswith("sqlite:///"):
        (ROOT / ".bench").mkdir(exist_ok=True)
    else:
        _ensure_postgres_database(url)

    app = create_app(bench_config(url))
    ensure_data(app, users)
    if args.prepare_only:
        return 0
    client = app.test_client()
    login(client)
    with app.app_context():
        luke = db.session.scalar(select(User.id).where(User.email == "luke.skywalker@example.org"))
        db.session.remove()

    cases = users_list_cases(app, client, runs, args.quick)
    target = None if args.quick else 2.5
    # What any page costs before its own data: the session, the layout and the menu (informative).
    cases.append(replayed_case(app, client, "page without data (the layout alone)", "/admin/habilitations/", runs, None))
    cases.append(replayed_case(app, client, "users list, name search", "/admin/users/?search=martin&page_size=50", runs, target))
    cases.append(replayed_case(app, client, "user details page", f"/admin/users/details/?id={luke}", runs, target))
    cases.append(replayed_case(app, client, "establishment autocomplete", "/admin/users/lookup/establishments?q=garage", runs, target))
    cases.append(replayed_case(app, client, "requests tab", "/admin/account-requests/?statut=toutes&page_size=50", runs, target))
    cases.append(replayed_case(app, client, "audit trail", "/admin/audit/?page_size=50", runs, target))
    cases.append(replayed_case(app, client, "emails", "/admin/emails/?page_size=50", runs, target))
    cases += bulk_cases(app, runs, args.quick)
    cases.append(export_case(url))

    failed = False
    backend = make_url(url).get_backend_name()
    print(f"\nBenchmark on {backend}, {users} users, {runs} runs per case ({os.cpu_count()} CPUs)\n")
    print(f"{'case':44} {'median ms':>10} {'p95 ms':>8} {'floor ms':>9} {'stmts':>6} {'ratio':>6} {'target':>7}  result")
    print("(floor: the bare SQL of the case; for the users list, the issue's T, with the app's tuned SQL in the note)")
    for case in cases:
        verdict = case.ok
        if case.target is not None and case.ratio > case.target:
            verdict = False
        if case.max_statements is not None and case.statements is not None and case.statements > case.max_statements:
            verdict = False
        failed |= not verdict
        target_text = f"≤{case.target:g}" if case.target else "-"
        stmts = "-" if case.statements is None else str(case.statements)
        if case.tuned_floor_ms:
            tuned = statistics.median(case.tuned_floor_ms)
            case.note += f"; tuned SQL {tuned:.1f} ms, app/tuned {statistics.median(case.app_ms) / tuned:.1f}"
        print(f"{case.name:44} {statistics.median(case.app_ms):10.1f} {p95(case.app_ms):8.1f} "
              f"{statistics.median(case.floor_ms):9.1f} {stmts:>6} {case.ratio:6.2f} {target_text:>7}  "
              f"{'PASS' if verdict else 'FAIL'}  {case.note}")
    problems = plans(app)
    for problem in problems:
        print(f"\nQUERY PLAN FAIL: {problem}")
    print("\nquery plans: " + ("PASS (filters on indexes, each list read in its order off an index, search on trigrams on PostgreSQL)"
                              if not problems else "FAIL"))
    return 1 if failed or problems else 0


def _ensure_postgres_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}):
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
