# The two commands a newcomer needs: `make run` (serve the demo) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app admin_app
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,serve]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(FLASK) db upgrade
	$(FLASK) seed demo-if-empty
	@echo "Mes utilisateurs : http://127.0.0.1:$(PORT)/  (staff@example.org / demo-staff-2026)"
	$(FLASK) send-mail --loop & trap "kill $$! 2>/dev/null" EXIT; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

serve: install
	$(FLASK) db upgrade
	$(BIN)/gunicorn --workers $${WORKERS:-4} --bind $${BIND:-127.0.0.1:8000} 'admin_app:create_app()'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
