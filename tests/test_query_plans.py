"""On PostgreSQL, the main filters of the users list, the other lists' orders and the search box use indexes
(EXPLAIN), on a realistic volume."""

import os

import pytest
from sqlalchemy import text

from admin_app.services import seed
from scripts.bench import query_plan_problems

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="query plans are checked on PostgreSQL")


def test_main_filters_use_indexes_not_sequential_scans(app, db, app_context):
    seed.generate_volume(db.session, 20_000)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    assert query_plan_problems(db.engine) == []
