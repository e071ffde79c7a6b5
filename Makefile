# Two commands: `make up` brings the whole system up on SQLite, `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
UP_ARGS ?=
# LiteLLM's proxy, an independent OpenAI-compatible server for tests/llm, lives in a venv of its
# own: its pins (fastapi, pydantic, uvicorn, ...) must never move the main venv's.
LITELLM_VENV ?= .venv-litellm
LITELLM_REQUIREMENTS := scripts/litellm-requirements.txt
LITELLM_STAMP := $(LITELLM_VENV)/.installed-stamp

.PHONY: up test test-fast install litellm sysdeps lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(LITELLM_STAMP): $(LITELLM_REQUIREMENTS)
	test -x $(LITELLM_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install -q -r $(LITELLM_REQUIREMENTS)
	touch $(LITELLM_STAMP)

litellm: $(LITELLM_STAMP)

sysdeps:
	bash scripts/system-deps.sh

up: install
	$(PY) -m clfwatch.up $(UP_ARGS)

# Most tests wait on servers and the wall clock, not on the CPU: TEST_WORKERS run at once
# (pytest-xdist), then the `serial` tests (wall-clock timing checks, tests/conftest.py) run alone.
# The first failing step stops make with pytest's own summary line and exit code; exit code 5
# (nothing selected, e.g. PYTEST_ARGS naming one folder without serial tests) is not a failure.
TEST_WORKERS ?= 4
XDIST := -n $(TEST_WORKERS) --dist loadgroup
test: install sysdeps litellm
	$(PY) -m pytest $(XDIST) -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest -p no:xdist -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The inner loop: SQLite only, no browser, Prometheus, Evidently UI, LiteLLM, wall-clock timing
# or multi-second tests (< 3 min).
FAST_MARKS := not slow and not serial and not browser and not prometheus and not evidently_ui and not postgres and not litellm
test-fast: install
	$(PY) -m pytest $(XDIST) -m "$(FAST_MARKS)" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) $(LITELLM_VENV) var clfwatch.db
