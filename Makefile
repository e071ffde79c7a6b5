# Two commands: `make up` brings the whole system up on SQLite, `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
UP_ARGS ?=

.PHONY: up test test-fast install sysdeps lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

sysdeps:
	bash scripts/system-deps.sh

up: install
	$(PY) -m clfwatch.up $(UP_ARGS)

test: install sysdeps
	$(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: SQLite only, no browser, Prometheus, Evidently UI or multi-second tests (< 3 min).
FAST_MARKS := not slow and not browser and not prometheus and not evidently_ui and not postgres
test-fast: install
	$(PY) -m pytest -m "$(FAST_MARKS)" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) var clfwatch.db
