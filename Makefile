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

# Three pytest runs: all but the `serial` tests on TEST_WORKERS pytest-xdist workers and, at the
# same time, the `serial` tests (timed phases: mostly sleeping) on SERIAL_WORKERS more, a module
# per worker (`--dist loadfile`: one module's tests one at a time, in order); then the `quiet`
# ones (wall-clock timing measures) alone (tests/conftest.py). The serial run's output is shown
# once the parallel one ends; make fails, after all three, with each run's own summary line,
# if any failed; Ctrl-C stops the background run too (a shell starts it with SIGINT ignored).
# Exit code 5 (nothing selected, e.g. PYTEST_ARGS naming one folder without
# serial tests) is not a failure.
# Our bytecode is cached (__pycache__, ignored by git and Docker) even where the environment says
# PYTHONDONTWRITEBYTECODE=1: the tests start our code in hundreds of processes, and compiling it
# from source in each (pytest's assertion rewriting too) was a third of their start-up.
# (Not PYTHONPYCACHEPREFIX: it would also bypass the venv's compiled packages.)
test test-fast: export PYTHONDONTWRITEBYTECODE :=
TEST_WORKERS ?= 4
SERIAL_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup
SERIAL_LOG := var/test-serial.log
test: install sysdeps litellm
	@mkdir -p var; \
	$(PY) -m pytest -n $(SERIAL_WORKERS) --dist loadfile -m "serial and not quiet" $(PYTEST_ARGS) > $(SERIAL_LOG) 2>&1 & serial=$$!; \
	trap 'kill $$serial 2>/dev/null; exit 130' INT TERM; \
	$(PY) -m pytest $(XDIST) -m "not serial" $(PYTEST_ARGS); parallel=$$?; \
	wait $$serial; beside=$$?; \
	echo "---- serial tests (ran beside the parallel ones; $(SERIAL_LOG)) ----"; cat $(SERIAL_LOG); \
	echo "---- quiet tests (alone) ----"; \
	$(PY) -m pytest -p no:xdist -m quiet $(PYTEST_ARGS); quiet=$$?; \
	failed=0; for rc in $$parallel $$beside $$quiet; do [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || failed=1; done; \
	[ $$failed -eq 0 ] || echo "make test: exit codes parallel=$$parallel serial=$$beside quiet=$$quiet"; \
	exit $$failed

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
