"""``clfwatch db wait``: an init container's wait for the migration job, bounded, one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from storage.engine import upgrade_database
from tests.conftest import REPO_ROOT

CMD = [sys.executable, "-m", "clfwatch.cli", "db", "wait"]


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = url
    return env


def test_wait_returns_once_another_process_migrated(pg_admin_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import _pg_database

    for url in _pg_database(pg_admin_engine):  # an empty database: the migrate job has not run
        waiting = subprocess.Popen([*CMD, "--wait-s", "120"], env=_env(url), cwd=REPO_ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert waiting.poll() is None  # still waiting: never migrated
        upgrade_database(url)
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
        assert "newest schema" in out


def test_wait_gives_up_with_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    done = subprocess.run([*CMD, "--wait-s", "2"], env=_env(url), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "never migrated" in done.stderr and "clfwatch db upgrade" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "empty.db").exists() or os.path.getsize(tmp_path / "empty.db") < 10_000
