"""``targets update``/``key``/``list`` and the schema check of the console script.

Real ``clfwatch`` processes where the process is the point: the key alone on stdout, a fresh
SQLite's migration line, an unmigrated Postgres's one line and exit 2 (each once, on one
backend or one command); what the commands compute and store runs ``cli.main`` in this
process (``tests.clfwatch.inproc``). One-line errors of the real script, per command group,
are tests/clfwatch/test_errors.py's.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.engine import session_scope
from storage.targets import target_changes, target_for_key
from tests.clfwatch.inproc import clfwatch_in_process
from tests.clfwatch.test_cli import clfwatch
from tests.conftest import PG_ADMIN_URL

NAME = "PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ"


def test_update_key_and_list_json(cli_env: dict[str, str], db_url: str) -> None:
    # In this process: the add, the updates and the listings (what the commands store and
    # print), and an unknown name's one line; in a real process, on SQLite: the key printed
    # alone on stdout.
    r = clfwatch_in_process(cli_env, "targets", "add", "team-a", "http://127.0.0.1:8080",
                            "--token", "TOK-old-1", "--registered-at", "2026-09-01T00:00:00+00:00")
    assert r.returncode == 0, r.stderr
    before = json.loads(clfwatch_in_process(cli_env, "targets", "list", "--format", "json").stdout)[0]
    r = clfwatch_in_process(cli_env, "targets", "update", "team-a", "--name", NAME, "--url",
                            "http://127.0.0.1:9090", "--token", "TOK-new-2", "--predict-path", "/p")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(clfwatch_in_process(cli_env, "targets", "list", "--format", "json").stdout)
    assert row["id"] == before["id"] and row["name"] == NAME
    assert row["registered_at"] == "2026-09-01T00:00:00+00:00"
    lifetime = (datetime.now(UTC) - datetime(2026, 9, 1, tzinfo=UTC)).total_seconds()
    assert abs(row["lifetime_s"] - lifetime) < 120
    assert row["url"] == "http://127.0.0.1:9090" and row["predict_path"] == "/p"
    r = clfwatch_in_process(cli_env, "targets", "update", NAME, "--no-token", "--no-template")
    assert r.returncode == 0 and json.loads(
        clfwatch_in_process(cli_env, "targets", "list", "--format", "json").stdout)[0]["token"] == "none"
    with session_scope(db_url) as s:
        changes = target_changes(s, row["id"])
    assert [c.fields for c in changes] == [
        ("token",), ("name", "base_url", "token", "predict_path")]
    assert {c.actor for c in changes} == {"operator"}

    r = (clfwatch if db_url.startswith("sqlite") else clfwatch_in_process)(cli_env, "targets", "key", NAME)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1, r.stdout
    key = r.stdout.strip()
    with session_scope(db_url) as s:
        assert target_for_key(s, key).id == row["id"]  # type: ignore[union-attr]
    r = clfwatch_in_process(cli_env, "targets", "key", "nobody")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no target" in r.stderr


def test_url_refusal_and_warning(cli_env: dict[str, str]) -> None:
    # The refusal's line and the warning are what the command computes: in this process.
    r = clfwatch_in_process(cli_env, "targets", "add", "t", "http://127.0.0.1 :8190")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "a space at position" in r.stderr
    r = clfwatch_in_process(cli_env, "targets", "add", "t", "http://127.0.0.1:8190/predict")
    assert r.returncode == 0
    assert "predict path /predict" in r.stderr and "http://127.0.0.1:8190?" in r.stderr
    r = clfwatch_in_process(cli_env, "targets", "update", "t", "--url", "http://127.0.0.1:8190")
    assert r.returncode == 0 and "warning" not in r.stderr


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = url
    return env


def test_fresh_sqlite_is_migrated_on_first_use(tmp_path: Path) -> None:
    # A real process first; the same first use by another command group, and the second use,
    # in this process (its engine is closed after each command, as at a process's exit).
    db = tmp_path / "fresh" / "clfwatch.db"
    for run, args in ((clfwatch, ("targets", "list")), (clfwatch_in_process, ("score",))):
        db.unlink(missing_ok=True)
        r = run(_env(f"sqlite:///{db}"), *args)
        assert r.returncode == 0, r.stderr
        assert "migrated the SQLite database" in r.stderr and "Traceback" not in r.stderr
    r = clfwatch_in_process(_env(f"sqlite:///{db}"), "targets", "list")
    assert r.returncode == 0 and "migrated" not in r.stderr


@pytest.fixture
def empty_pg_url(pg_admin_engine) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"clfwatch_t_{uuid.uuid4().hex[:12]}"
    with pg_admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with pg_admin_engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_unmigrated_postgres_gets_one_line(empty_pg_url: str) -> None:
    commands = [("targets", "list"), ("score",), ("targets", "key", "x")]
    for i, args in enumerate(commands):  # the real process once; the other groups here
        r = (clfwatch if i == 0 else clfwatch_in_process)(_env(empty_pg_url), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "clfwatch db upgrade" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and "SELECT" not in r.stderr
    # The refusals above are the real process's; the migration and what follows run in this one.
    r = clfwatch_in_process(_env(empty_pg_url), "db", "upgrade", "--wait-s", "5")
    assert r.returncode == 0, r.stderr
    for args in commands:
        r = clfwatch_in_process(_env(empty_pg_url), *args)  # migrated: the command itself answers
        assert r.returncode in (0, 1) and "db upgrade" not in r.stderr, (args, r.stderr)
