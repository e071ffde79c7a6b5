"""Shared fixtures: fresh migrated databases on SQLite and on the machine's Postgres.

Postgres is not optional: when it does not answer, the tests that need it fail, loudly,
instead of skipping (``make test`` starts it; see scripts/system-deps.sh).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.engine import engine_for, upgrade_database

# Imported here, once, so the reference model trains once per test session, not once per folder.
from tests.reference import trained_model_dir  # noqa: F401
from tests.servers import free_port  # noqa: F401 - many tests import it from here

PG_ADMIN_URL = os.environ.get(
    "CLFWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_admin_engine():  # type: ignore[no-untyped-def]
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # fails the test run if Postgres is down: no skip
        conn.execute(text("SELECT 1"))
    yield engine
    engine.dispose()


def _pg_database(admin) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"clfwatch_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_admin_engine) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty, migrated Postgres database for one test."""
    for url in _pg_database(pg_admin_engine):
        upgrade_database(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A fresh migrated SQLite file for one test."""
    url = f"sqlite:///{tmp_path / 'clfwatch.db'}"
    upgrade_database(url)
    yield url
    engine_for(url).dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on Postgres."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


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

