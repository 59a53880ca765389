# Hoop Inventory — the only set-up is Python 3.11+ and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo test lint format serve bench clean screenshots

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: install
	$(BIN)/hoop demo
	$(BIN)/hoop serve --host 127.0.0.1 --port 8000

serve: install
	$(BIN)/hoop serve

test: install
	$(BIN)/ruff check .
	@test -x /usr/bin/chromium || echo "note: /usr/bin/chromium is absent, so the browser tests (tests/e2e/test_browser.py) are skipped; apt-get install chromium runs them (.ci/run installs it and makes them required)"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

screenshots: install
	$(BIN)/python scripts/screenshots.py

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) hoop.db hoop.db-wal hoop.db-shm .pytest_cache .ruff_cache
