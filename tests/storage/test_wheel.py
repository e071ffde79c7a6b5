"""``clfwatch db upgrade`` from a plain wheel install: the migrations travel inside the package.

Builds a wheel of the project, installs it (not editable) into a fresh venv and migrates a new
SQLite file from an unrelated folder. The fresh venv borrows the third-party packages of the
test's own venv through a ``.pth`` line (no downloads); that line adds a folder to ``sys.path``
without running the ``.pth`` files in it, so the editable install's finder stays inactive, and
the test proves clfwatch is imported from the fresh venv.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


def source_copy(dest: Path) -> Path:
    """What a wheel is built from (pyproject, README, the packages), outside the checkout."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, dest / name)
    for package in config["tool"]["setuptools"]["packages"]["find"]["include"]:
        shutil.copytree(REPO_ROOT / package.rstrip("*"), dest / package.rstrip("*"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.mark.slow
def test_db_upgrade_from_an_installed_wheel(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    src = source_copy(tmp_path / "src")
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
        timeout=BUILD_TIMEOUT_S)
    (wheel,) = wheels.glob("clfwatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"storage/migrations/env.py", "storage/migrations/script.py.mako",
            "storage/migrations/versions/0001_initial_schema.py"} <= names

    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        timeout=BUILD_TIMEOUT_S)
    fresh_site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
                      .stdout.strip())
    (fresh_site / "borrowed-deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_") and k != "PYTHONPATH"}
    env["CLFWATCH_DATABASE_URL"] = f"sqlite:///{elsewhere / 'new.db'}"
    where = run([str(python), "-c",
                 "import sys, clfwatch, storage.migrations as m; "
                 "print(m.__file__); "
                 "print(any('editable' in repr(f).lower() for f in sys.meta_path))"],
                cwd=elsewhere, env=env).stdout.split()
    assert Path(where[0]).is_relative_to(fresh_site), where  # not the checkout, not the editable finder
    assert where[1] == "False"
    assert not (elsewhere / "new.db").exists()

    r = run([str(fresh / "bin" / "clfwatch"), "db", "upgrade"], cwd=elsewhere, env=env, timeout=RUN_TIMEOUT_S)
    assert sorted(elsewhere.iterdir()) == [elsewhere / "new.db"], r.stderr  # nothing else beside it
    from alembic.script import ScriptDirectory

    from storage.engine import alembic_config
    from storage.models import Base

    conn = sqlite3.connect(elsewhere / "new.db")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        conn.close()
    assert set(Base.metadata.tables) <= tables, r.stderr
    assert revision == ScriptDirectory.from_config(alembic_config()).get_current_head()
