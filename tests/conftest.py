"""Shared fixtures: fresh migrated databases on SQLite and on the machine's Postgres.

Postgres is not optional: when it does not answer, the tests that need it fail, loudly,
instead of skipping (``make test`` starts it; see scripts/system-deps.sh).

Alembic runs once per session and backend (about a second each): every test then gets a copy
of that migrated database (``CREATE DATABASE ... TEMPLATE`` on Postgres, a file copy on SQLite)
instead of migrating again. Names carry the xdist worker id, so workers never share one.

``pytest_collection_modifyitems`` marks each test by what it uses (see ``FIXTURE_MARKS``), so
``make test-fast`` (``-m "not browser and not ..."``) classifies a new test without anyone
remembering to mark it.

``make test`` runs under pytest-xdist: everything but the ``serial`` tests on several workers
(``--dist loadgroup``) and, beside them in a second pytest, the ``serial`` tests on two more
workers, a module per worker (``--dist loadfile``); then the ``quiet`` ones alone. A test is
``serial`` when it runs timed phases (soaks, outages, probers started and stopped: mostly
sleeping) whose checks hold on a busy machine but would
stretch the parallel step if a worker waited them out (see ``SERIAL_MODULES``); it is also
``quiet`` when it measures wall-clock timing that other work would skew (``QUIET_MODULES``).
Browser tests share one ``xdist_group`` so two Chromiums never race.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text

from storage.engine import engine_for, upgrade_database
from tests.llm.servers import LlmServer, litellm_proxy_server

# Imported here, once, so the reference model trains once per test session, not once per folder.
from tests.reference import trained_model_dir  # noqa: F401
from tests.servers import free_port  # noqa: F401 - many tests import it from here

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PG_ADMIN_URL = os.environ.get(
    "CLFWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REPO_ROOT = Path(__file__).resolve().parent.parent

# A test using one of these fixtures (directly or through another fixture) gets the mark.
FIXTURE_MARKS = {
    "pg_url": "postgres",
    "pg_admin_engine": "postgres",
    "pg_template": "postgres",
    "browser": "browser",
    "page": "browser",
    "evidently_ui": "evidently_ui",
    "live_stack": "prometheus",
    "litellm_proxy": "litellm",
}
# Modules of timed phases (soaks, outages, probers killed and restarted): one test at a time,
# in a pytest of their own beside the parallel step (make test). Their checks are of behaviour
# (every probe written, no healthy target charged, order of events) with bounds a busy machine
# keeps; the reason says what the timing is.
SERIAL_MODULES = {
    "tests/probes/test_prober_targets.py": "latency within 10 ms of the injected delay, probes per slot",
    "tests/probes/test_connection_habits.py": "idle times of kept-alive connections",
    "tests/probes/test_db_outage.py": "a batch written before the writer's tick, probes through a cut",
    "tests/probes/test_shard_peers.py": "every target probed once per slot by two processes",
    "tests/probes/test_cli.py": "heartbeat gaps of a killed and restarted prober",
    "tests/alerts/test_prober_alerts.py": "incident open and close after timed phases",
    "tests/drift/test_model_changes_live.py": "a model switch found within seconds of when it happened",
    "tests/stress/test_load.py": "Locust bursts: throughput and latency of a spike",
    "tests/stress/test_load_faulty.py": "Locust bursts against servers that shed, queue or cap",
    "tests/stress/test_cli.py": "a dead or silent target stops the run within 10 s",
    "tests/stress/test_llm_suite.py": "the LLM burst's TTFT p95 bar, slow readers beside a normal stream",
    "tests/deploy/test_make_up.py": "the whole system started from nothing, with start-up timeouts",
}
# Serial modules that measure wall-clock timing to the millisecond (latency within 10 ms of the
# injected delay, the p95 latency of a healthy server under a Locust spike): they run after the
# rest, alone, so no other work can skew them. (tests/stress/test_llm_suite.py's TTFT bar is 2 s:
# it held in five runs next to two busy loops at load 4-9, so it runs beside the parallel step.)
QUIET_MODULES = {
    "tests/probes/test_prober_targets.py",
    "tests/stress/test_load.py",
}
assert set(SERIAL_MODULES) >= QUIET_MODULES, "a quiet module is also serial: never on an xdist worker"
# Tests with these marks share one xdist worker (one at a time), since each is heavy on CPU.
GROUP_BY_MARK = {"browser": "browser", "litellm": "litellm"}  # litellm: one proxy start per run
# Modules whose tests build Evidently reports in the pytest process share one worker too:
# importing evidently costs 4 CPU-s, paid once instead of on every worker that gets one of them.
EVIDENTLY_MODULES = {
    "tests/dashboard/test_drift_page.py",
    "tests/drift/test_evidently.py",
    "tests/drift/test_reports.py",
    "tests/drift/test_traffic.py",
}
# A test module using one of these helpers gets the mark (they are context managers, not fixtures).
HELPER_MARKS = {("tests.prom", "prometheus"): "prometheus"}


def _helper_marks(module: object) -> set[str]:
    marks = set()
    for value in vars(module).values():
        key = (getattr(value, "__module__", None), getattr(value, "__name__", None))
        if key in HELPER_MARKS:
            marks.add(HELPER_MARKS[key])  # type: ignore[index]
    return marks


# make test's serial and quiet steps select by these marks, which only SERIAL_MODULES and
# QUIET_MODULES carry: those steps skip importing the other modules (seconds of CPU each time).
MODULES_OF_MARK_EXPRESSION = {
    "serial and not quiet": set(SERIAL_MODULES) - QUIET_MODULES,
    "quiet": QUIET_MODULES,
}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    modules = MODULES_OF_MARK_EXPRESSION.get(config.getoption("markexpr"))
    if modules is None or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return collection_path.relative_to(REPO_ROOT).as_posix() not in modules


@pytest.hookimpl(tryfirst=True)  # before -m deselects and before xdist reads xdist_group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    with_xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        marks = {mark for fixture, mark in FIXTURE_MARKS.items() if fixture in names}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and {"postgres", "pg_url"} & {str(v) for v in callspec.params.values()}:
            marks.add("postgres")  # db_url's "postgres", or a test's own parameter naming pg_url
        module = getattr(item, "module", None)
        if module is not None:
            marks |= _helper_marks(module)
        path = item.nodeid.split("::", 1)[0]
        if path in SERIAL_MODULES:
            marks.add("serial")
        if path in QUIET_MODULES:
            marks.add("quiet")
        for mark in sorted(marks):
            item.add_marker(mark)
        # Only with xdist loaded (the mark is xdist's; it acts only under --dist loadgroup).
        groups = {GROUP_BY_MARK[m] for m in marks if m in GROUP_BY_MARK} if with_xdist else set()
        if with_xdist and path in EVIDENTLY_MODULES:
            groups.add("evidently")
        for group in sorted(groups)[:1]:
            item.add_marker(pytest.mark.xdist_group(group))


def _worker() -> str:
    """The xdist worker id (``gw0``...) or ``main``: part of every database name we create."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def pg_admin_engine():  # type: ignore[no-untyped-def]
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # fails the test run if Postgres is down: no skip
        conn.execute(text("SELECT 1"))
    yield engine
    engine.dispose()


def _pg_database(admin, template: str | None = None) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A new database (a copy of ``template``, or empty) for the generator's life, then dropped."""
    url = _create_pg_database(admin, template)
    try:
        yield url
    finally:
        _drop_pg_database(admin, url)


@pytest.fixture(scope="session")
def pg_template(pg_admin_engine) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Name of a Postgres database migrated once per session, the template of every ``pg_url``."""
    for url in _pg_database(pg_admin_engine):
        upgrade_database(url)
        # CREATE DATABASE ... TEMPLATE refuses while anyone is connected to the template.
        engine_for(url).dispose()
        yield url.rsplit("/", 1)[1]


# A CREATE DATABASE from the template costs Postgres 0.15-0.25 CPU-s (it copies the template's
# 8 MB, mostly catalog, through the WAL); emptying a used copy costs 2 ms. So each pytest process
# keeps the copies its tests are done with, emptied, for its next tests: the same empty, migrated
# database as a fresh copy (rows deleted, sequences back at their start, other connections cut,
# as DROP ... WITH (FORCE) would), or, when a test changed the schema, dropped instead.
_PG_SCHEMA_FINGERPRINT = text("""
    SELECT count(*), sum(hashtext(concat_ws(' ', c.relname, c.relkind, a.attname, a.atttypid, a.attnotnull)))
    FROM pg_class c
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relnamespace = 'public'::regnamespace
""")
_PG_TABLES = text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
_PG_CUT_OTHERS = text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
_PG_RESTART_SEQUENCES = text("SELECT setval(c.oid, s.seqstart, false) FROM pg_class c "
                             "JOIN pg_sequence s ON s.seqrelid = c.oid "
                             "WHERE c.relnamespace = 'public'::regnamespace")


@dataclass
class PgSpares:
    """This process's emptied copies of the template, and what an untouched copy looks like."""

    admin: Any  # the AUTOCOMMIT engine on the maintenance database (pg_admin_engine)
    template: str
    fingerprint: tuple[int, int]
    tables: list[str]  # every table but alembic_version, whose one row stays
    reuse: bool  # False when the template holds rows of its own: "emptied" would not be "fresh"
    urls: list[str]

    @contextmanager
    def database(self) -> Iterator[str]:
        """An empty migrated database for the block: a spare, or a new copy of the template."""
        url = self.take()
        try:
            yield url
        finally:
            self.give_back(url)

    def take(self) -> str:
        return self.urls.pop() if self.urls else _create_pg_database(self.admin, self.template)

    def give_back(self, url: str) -> None:
        engine_for(url).dispose()
        if self.reuse and self._emptied(url):
            self.urls.append(url)
        else:
            _drop_pg_database(self.admin, url)

    def _emptied(self, url: str) -> bool:
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(_PG_CUT_OTHERS)
                if tuple(conn.execute(_PG_SCHEMA_FINGERPRINT).one()) != self.fingerprint:
                    return False
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK order
                for table in self.tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))
                conn.execute(_PG_RESTART_SEQUENCES)
                return True
        except DBAPIError:
            return False
        finally:
            engine.dispose()


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _create_pg_database(admin, template: str | None = None) -> str:  # type: ignore[no-untyped-def]
    name = f"clfwatch_t_{_worker()}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    return _pg_url(name)


def _drop_pg_database(admin, url: str) -> None:  # type: ignore[no-untyped-def]
    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_spares(pg_admin_engine, pg_template: str) -> Iterator[PgSpares]:  # type: ignore[no-untyped-def]
    from sqlalchemy.pool import NullPool

    engine = create_engine(_pg_url(pg_template), poolclass=NullPool)  # closed at once: a template is unused
    try:
        with engine.connect() as conn:
            count, digest = conn.execute(_PG_SCHEMA_FINGERPRINT).one()
            tables = [t for t in conn.execute(_PG_TABLES).scalars() if t != "alembic_version"]
            seeded = [t for t in tables if conn.execute(text(f'SELECT 1 FROM "{t}" LIMIT 1')).first()]
    finally:
        engine.dispose()
    spares = PgSpares(pg_admin_engine, pg_template, (count, digest), tables, reuse=not seeded, urls=[])
    yield spares
    for url in spares.urls:
        _drop_pg_database(pg_admin_engine, url)


@pytest.fixture
def pg_url(pg_spares: PgSpares) -> Iterator[str]:
    """A fresh, empty, migrated Postgres database for one test (a copy of ``pg_template``)."""
    with pg_spares.database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; ``sqlite_url`` copies it."""
    path = tmp_path_factory.mktemp(f"sqlite-template-{_worker()}") / "clfwatch.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine_for(url).dispose()  # the last close checkpoints the WAL into the file itself
    leftovers = [p for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"migrated SQLite template left {leftovers}: copying it would lose data"
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh migrated SQLite file for one test (a copy of ``sqlite_template``)."""
    path = tmp_path / "clfwatch.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    yield url
    engine_for(url).dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on Postgres."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@contextmanager
def template_copy(request: pytest.FixtureRequest, backend: str) -> Iterator[str]:
    """A fresh migrated database on ``backend``, like ``db_url``'s, for a fixture wider than one test.

    For data a module loads once and its tests only read: a test that writes gets ``db_url``.
    """
    if backend == "postgres":
        with request.getfixturevalue("pg_spares").database() as url:
            yield url
        return
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    path = tmp_path_factory.mktemp("shared-db") / "clfwatch.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    url = f"sqlite:///{path}"
    try:
        yield url
    finally:
        engine_for(url).dispose()


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running ``clfwatch`` in a subprocess against ``db_url``."""
    from core.settings import get_settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = db_url
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", db_url)
    get_settings.cache_clear()
    return env


def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    """LiteLLM's proxy (from .venv-litellm, `make litellm`), started once per worker and session."""
    with litellm_proxy_server(tmp_path_factory.mktemp("litellm")) as server:
        yield server


# Debian's Chromium, driven by Playwright (which never downloads a browser of its own); the
# background-networking flags keep it from calling out of the machine.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEFAULT_VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright  # only the browser tests pay for the import

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test, at the module's ``VIEWPORT`` (else DEFAULT_VIEWPORT)."""
    context = browser.new_context(viewport=getattr(request.module, "VIEWPORT", DEFAULT_VIEWPORT))
    yield context.new_page()
    context.close()
