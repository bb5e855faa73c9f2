# The two commands a newcomer needs: `make run` (serve the demo) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app admin_app
PORT ?= 5000
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-serve

.PHONY: run test install install-serve browser-tools screenshots lint bench bench-quick bench-scale loadtest loadtest-scale loadtest-run serve mutate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Serving needs only the app and gunicorn; the tests add their own tools (Playwright, Hypothesis, bandit...).
$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[serve]'
	touch $(SERVE_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,serve]'
	touch $(STAMP) $(SERVE_STAMP)

install-serve: $(SERVE_STAMP)

install: $(STAMP)

# PORT reaches the app too: the links in its emails (BASE_URL's default) point where it serves.
run: install-serve
	$(FLASK) db upgrade
	$(FLASK) seed demo-if-empty
	@echo "Mes utilisateurs : http://127.0.0.1:$(PORT)/  (staff@example.org / demo-staff-2026)"
	PORT=$(PORT) $(FLASK) send-mail --loop & trap "kill $$! 2>/dev/null" EXIT; \
	PORT=$(PORT) $(FLASK) run --host 127.0.0.1 --port $(PORT)

# The browser tests drive Debian's Chromium and inject axe-core from the npm registry; install them
# when missing (needs root for apt-get: elsewhere the browser tests skip, and CI refuses to skip them).
browser-tools:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "Chromium could not be installed: the browser tests will be skipped"
	@test -f node_modules/axe-core/axe.min.js || npm ci --no-audit --no-fund --silent \
		|| echo "axe-core could not be installed: the accessibility tests will be skipped"

test: install browser-tools
	$(BIN)/pytest

screenshots: install browser-tools
	$(BIN)/python scripts/screenshots.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r admin_app models views

# Mutation testing of the rules and the services against the fast tests, on SQLite (what and how:
# [tool.mutmut] in pyproject.toml). MUTANTS='models.habilitations.*' narrows a run; survivors' diffs:
# `$(BIN)/mutmut show NAME`, or `$(BIN)/mutmut browse`. Results stay in mutants/ between runs.
mutate: install
	test -x $(BIN)/mutmut || $(BIN)/pip install --quiet -e '.[test,serve,mutate]'
	TEST_DATABASE_URL= $(BIN)/mutmut run $(MUTANTS)
	$(BIN)/mutmut results

# The benchmark (README, "Performance"): 100,000 users, cached in .bench/; BENCH_ARGS="--database-url ...";
# BENCH_ARGS="--profile /admin/users/?..." profiles one page with pyinstrument (the `bench` extra).
bench: install
	$(BIN)/python -c "import pyinstrument" 2>/dev/null || $(BIN)/pip install --quiet -e '.[test,serve,bench]'
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

# What CI runs: 10,000 users; statement counts, exact counts, query plans, streaming and memory.
bench-quick: install
	$(BIN)/python scripts/bench.py --quick $(BENCH_ARGS)

# The million-user figures (README, "A million users"): seeded once into SCALE_DATABASE_URL (minutes), then
# each main screen's p50/p95, the export job; exits non-zero on a missed target.
SCALE_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/scale
bench-scale: install
	$(BIN)/python scripts/bench_scale.py --database-url $(SCALE_DATABASE_URL) $(BENCH_ARGS)

# Load test: gunicorn with 4 workers and one job worker on PostgreSQL + Redis, LOADTEST_SESSIONS staff
# sessions for 60 s while an export of every user runs as a job. `loadtest`: the benchmark's 100,000
# users, 20 sessions; `loadtest-scale`: bench-scale's million users, 50 sessions. A queue of its own: the
# databases share one Redis, and job ids start at 1 in each.
LOADTEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/bench
LOADTEST_SESSIONS ?= 20
loadtest: install
	$(BIN)/python scripts/bench.py --prepare-only --database-url $(LOADTEST_DATABASE_URL)
	$(MAKE) --no-print-directory loadtest-run

loadtest-scale: install
	$(BIN)/python scripts/bench_scale.py --prepare-only --database-url $(SCALE_DATABASE_URL)
	$(MAKE) --no-print-directory loadtest-run LOADTEST_DATABASE_URL=$(SCALE_DATABASE_URL) LOADTEST_SESSIONS=50

loadtest-run:
	export DATABASE_URL=$(LOADTEST_DATABASE_URL) REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
		JOBS_QUEUE=mes-utilisateurs-loadtest-$$$$; \
	$(BIN)/gunicorn --config gunicorn.conf.py --workers 4 --bind 127.0.0.1:8765 --pid .bench/gunicorn.pid \
		--error-logfile .bench/gunicorn.log --access-logfile .bench/gunicorn-access.log --daemon 'admin_app:create_app()' && \
	{ $(FLASK) jobs worker > .bench/jobs-worker.log 2>&1 & echo $$! > .bench/jobs-worker.pid; } && \
	for i in $$(seq 1 50); do curl -sf http://127.0.0.1:8765/healthz >/dev/null && break; sleep 0.2; done; \
	$(BIN)/python scripts/loadtest.py --base-url http://127.0.0.1:8765 --database-url $(LOADTEST_DATABASE_URL) \
		--sessions $(LOADTEST_SESSIONS) --duration 60 --job; status=$$?; \
	kill $$(cat .bench/gunicorn.pid) $$(cat .bench/jobs-worker.pid); exit $$status

serve: install-serve
	$(FLASK) db upgrade
	$(BIN)/gunicorn --config gunicorn.conf.py --workers $${WORKERS:-4} --bind $${BIND:-127.0.0.1:8000} 'admin_app:create_app()'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
