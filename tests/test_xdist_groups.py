"""``make test`` relies on pytest-xdist's ``--dist loadgroup``: every test of an ``xdist_group``
(the browser tests, the LiteLLM proxy's) runs on one worker, so two Chromiums never compete for
the two cores and the proxy starts once. pytest 9.2 silently broke that grouping (the tests were
spread as if unmarked; pytest-xdist issue #1386), so a new pytest or xdist must prove it here.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

GROUPED = '''
import os, pytest

@pytest.mark.xdist_group("together")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    with open(os.environ["WHERE"], "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.mark.parametrize("i", range(6))
def test_free(i):
    pass
'''


def _outside_pytest() -> dict[str, str]:
    """This process's environment without the PYTEST_* variables of the run around it."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def _our_addopts() -> list[str]:
    """pyproject's addopts: the nested run loads the plugins ``make test`` loads, and no more.

    Each worker importing the plugins ``make test`` turns off (schemathesis, hypothesis...) cost
    about 7 CPU-s of this test's 9.
    """
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return shlex.split(config["tool"]["pytest"]["ini_options"]["addopts"])


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED, encoding="utf-8")
    where = tmp_path / "workers.txt"
    # Two workers are enough: with the grouping broken, --dist load spreads the six over both.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider",
         *_our_addopts(), "--rootdir", str(tmp_path), str(tmp_path / "test_grouped.py")],
        cwd=tmp_path, env={**_outside_pytest(), "WHERE": str(where)},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    workers = where.read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers
