"""On PostgreSQL, the main filters of the users list, the other lists' orders and the search box use indexes
(EXPLAIN), on a realistic volume."""

import json
import os

import pytest
from sqlalchemy import event, text

from admin_app.services import seed
from scripts.bench import query_plan_problems

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="query plans are checked on PostgreSQL")


def test_main_filters_use_indexes_not_sequential_scans(app, db, app_context):
    seed.generate_volume(db.session, 20_000)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    assert query_plan_problems(db.engine) == []


def _subplan_loops(node: dict) -> list[int]:
    """The actual loop counts of every subquery evaluated per row, anywhere under `node`."""
    found = [node["Actual Loops"]] if node.get("Subplan Name", "").startswith("SubPlan") else []
    for child in node.get("Plans", []):
        found += _subplan_loops(child)
    return found


def test_a_deep_page_computes_the_rows_columns_for_its_own_rows_only(app, db, staff_client):
    """Page 51 of the users list: the perimeter columns' subqueries (Gestionnaire, Établissement principal)
    run for the page's 20 rows, not for the 1,000 an OFFSET skips (a million users' page 1,000 took 3.3 s
    that way), and none is planned as a hash of every grant."""
    seed.generate_volume(db.session, 2_000)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "is_manager" in statement:
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        response = staff_client.get("/admin/users/?page=50")
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert response.status_code == 200 and response.get_data(as_text=True).count('<td class="col-last_name">') == 20
    (statement, parameters), = captured
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0][0]["Plan"]
    finally:
        raw.close()
    loops = _subplan_loops(plan)
    assert loops and max(loops) <= 20, loops
    assert "Hashed SubPlan" not in json.dumps(plan), plan
