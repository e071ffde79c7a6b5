"""deploy/prometheus/alerts.yml passes its promtool unit tests, and those tests can fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

RULES_DIR = REPO_ROOT / "deploy" / "prometheus"
PROMTOOL = "promtool"  # ships with Debian's prometheus package (scripts/system-deps.sh)


def rules_found() -> str:
    """What promtool says of alerts.yml when it reads every rule in it."""
    groups = yaml.safe_load((RULES_DIR / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return f"SUCCESS: {sum(len(group['rules']) for group in groups)} rules found"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which(PROMTOOL)
    assert binary, "promtool missing: run scripts/system-deps.sh (Debian package prometheus)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", "alerts.yml", cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rules_found() in result.stdout


def test_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", "alerts_test.yml", cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("< 0.95", "< 0.85"),  # a 200-rate bar that lets 90 % through
        ("> 0.5", "> 1.5"),  # a latency bar nobody crosses
        ("> 60", "> 600"),  # a prober that may lag ten minutes
        ("for: 1m", "for: 10m"),  # a target down for long before anyone hears
        ("> 0.01", "> 0.1"),  # a prober that may leave a tenth of its probes ungraded
    ],
)
def test_unit_tests_catch_a_broken_rule(tmp_path: Path, old: str, new: str) -> None:
    rules = (RULES_DIR / "alerts.yml").read_text(encoding="utf-8")
    assert old in rules
    (tmp_path / "alerts.yml").write_text(rules.replace(old, new, 1), encoding="utf-8")
    shutil.copy(RULES_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0, result.stdout
