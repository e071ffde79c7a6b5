"""``make test`` relies on pytest-xdist's ``--dist loadgroup``: every test of an ``xdist_group``
(the browser tests, the LiteLLM proxy's) runs on one worker, so two Chromiums never compete for
the two cores and the proxy starts once. pytest 9.2 silently broke that grouping (the tests were
spread as if unmarked; pytest-xdist issue #1386), so a new pytest or xdist must prove it here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED, encoding="utf-8")
    where = tmp_path / "workers.txt"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "3", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider",
         "-p", "no:locust", "--rootdir", str(tmp_path), str(tmp_path / "test_grouped.py")],
        cwd=tmp_path, env={**_outside_pytest(), "WHERE": str(where)},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    workers = where.read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers
