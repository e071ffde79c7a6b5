"""Every expected failure reaches the user of the console script as one line and its exit code.

Each case raises a different ``ClfwatchError`` (some wrapped by the command in a
``CommandError``, some let through to ``cli.main``). The real ``clfwatch`` script in a
subprocess once per command group (and for a bad setting, before any group): its exit code,
and nothing but the one line on stderr when the process ends. The other cases of a group
check what ``cli.main`` makes of their error, in this process (``tests.clfwatch.inproc``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clfwatch.inproc import clfwatch_in_process

CLFWATCH = Path(sys.executable).parent / "clfwatch"

# (id = the error class raised, argv, extra environment, exit code, the one stderr line starts with,
#  through the real script?)
CASES = [
    ("SettingsError", ["targets", "list"], {"CLFWATCH_PROBE_INTERVAL_S": "-3"}, 2,
     "clfwatch: bad setting: CLFWATCH_PROBE_INTERVAL_S", True),
    ("TargetError unknown name", ["targets", "remove", "nobody"], {}, 1,
     "clfwatch: error: no target named 'nobody'", True),
    ("TargetError bad URL", ["targets", "add", "team-b", "ftp://127.0.0.1"], {}, 1, "clfwatch: error: ",
     False),
    ("UnknownTargetError", ["score", "--why", "nobody"], {}, 1,
     "clfwatch: error: no target named 'nobody' on the scoreboard", False),
    ("RulesError", ["score", "--rules", "{rules}"], {}, 1,
     "clfwatch: error: bad grading rules: ", True),
    ("EvalSetError", ["eval", "load", "{csv}"], {}, 1, "clfwatch: error: ", True),
    ("CommandError exit 2", ["alerts", "add", "--all", "a", "b"], {}, 2,
     "clfwatch: error: with --all give only the URL", True),
    ("BarsError", ["stress", "run", "nobody", "--bar", "nonsense"], {}, 2, "clfwatch: error: ", True),
]


@pytest.fixture(scope="module")
def migrated(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[dict[str, str], Path]:
    """One migrated SQLite file for every case (the errors do not depend on the backend): a copy
    of the session's migrated template, not a ``db upgrade`` process of its own."""
    folder = tmp_path_factory.mktemp("errors")
    shutil.copyfile(sqlite_template, folder / "clfwatch.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = f"sqlite:///{folder / 'clfwatch.db'}"
    (folder / "rules.toml").write_text("[nope]\nx = 1\n", encoding="utf-8")
    (folder / "eval.csv").write_text("id,text\ns1,hi\n", encoding="utf-8")
    return env, folder


@pytest.mark.parametrize(("argv", "extra", "code", "line", "real"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_an_expected_failure_is_one_line_and_its_exit_code(
    migrated: tuple[dict[str, str], Path], argv: list[str], extra: dict[str, str], code: int, line: str,
    real: bool,
) -> None:
    env, folder = migrated
    argv = [a.format(rules=folder / "rules.toml", csv=folder / "eval.csv") for a in argv]
    if real:
        r = subprocess.run([str(CLFWATCH), *argv], env={**env, **extra}, capture_output=True,
                           text=True, timeout=60, check=False, cwd=folder)
    else:
        r = clfwatch_in_process({**env, **extra}, *argv)
    lines = r.stderr.splitlines()
    assert r.returncode == code, r.stderr
    assert len(lines) == 1 and lines[0].startswith(line), r.stderr
    assert r.stdout == ""
