"""``clfwatch score`` as a user runs it: table, CSV, JSON, --why, and bad rules files.

The table goes through a real process once, on SQLite (what reaches the terminal: its arrows
and signs through the process's own stdout); the other formats, the tie table, --why and the
bad rules files check what the command computes, so they run ``cli.main`` in this process
(``tests.clfwatch.inproc``). A bad rules file's one line from the real script is
tests/clfwatch/test_errors.py's.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from scoring.board import compute_scoreboard
from scoring.rules import DEFAULT_RULES
from storage.engine import session_scope
from storage.grading import set_grading_config
from tests.clfwatch.inproc import clfwatch_in_process
from tests.clfwatch.test_cli import clfwatch
from tests.scoring.data import AT, BASELINE_AUC, build_scenario, build_tie_scenario


def test_score_formats(cli_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as s:
        build_scenario(s)
        set_grading_config(s, baseline_auc=BASELINE_AUC)
    with session_scope(db_url) as s:
        expected = compute_scoreboard(s, at=AT, rules=DEFAULT_RULES, baseline_auc=BASELINE_AUC).to_dict()
    at = ["--at", AT.isoformat()]

    r = clfwatch_in_process(cli_env, "score", *at, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == expected

    r = (clfwatch if db_url.startswith("sqlite") else clfwatch_in_process)(cli_env, "score", *at)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    alpha = next(line for line in lines if " alpha " in line)
    assert alpha.split()[0] == "1"
    for cell in ("100.0 ms → 0.80", "100.00 % → 1.00", "1.0000 → 1.00", "×1.00", "3.80"):
        assert cell in alpha
    assert "95.00 % → 0.00" in next(line for line in lines if " beta " in line)
    assert "delta: latency missing: no predict probes in the window" in r.stdout
    assert "gamma: auc 0 points: answered 75 % of the evaluation set" in r.stdout
    assert lines[[i for i, line in enumerate(lines) if line.startswith("rank")][0]].split()[-4:] == [
        "base", "lifetime", "total", "stress"]

    r = clfwatch_in_process(cli_env, "score", *at, "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["name"] for row in rows] == ["alpha", "eps", "gamma", "beta", "delta"]
    assert rows[0]["total"] == "3.8" and rows[3]["multiplier"] == "0.5" and rows[3]["uptime"] == "0.95"
    assert rows[3]["base"] == "1.5" and rows[2]["auc_coverage"] == "0.75" and rows[2]["auc_points"] == "0.0"
    assert rows[4]["latency_points"] == "" and "no predict probes" in rows[4]["missing"]

    r = clfwatch_in_process(cli_env, "score", *at, "--why", "beta")
    assert r.returncode == 0, r.stderr
    assert "multiplier = min(lifetime, 7 d) / 7 d = 0.5000" in r.stdout

    rules = tmp_path / "rules.toml"
    rules.write_text('[auc]\nmode = "value"\n')
    r = clfwatch_in_process(cli_env, "score", *at, "--rules", str(rules), "--format", "json")
    assert r.returncode == 0, r.stderr
    eps = next(t for t in json.loads(r.stdout)["targets"] if t["name"] == "eps")
    assert eps["components"]["auc"]["points"] == 0.375


def test_score_errors_are_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text("[uptime]\nzero_at = 2\n")
    cases = [
        (("--rules", str(bad)), "uptime.zero_at"),
        (("--rules", str(tmp_path / "absent.toml")), "absent.toml"),
        (("--why", "nobody"), "nobody"),
    ]
    for args, named in cases:
        r = clfwatch_in_process(cli_env, "score", *args)
        assert r.returncode != 0
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and named in lines[0] and "Traceback" not in r.stderr
    r = clfwatch_in_process(cli_env, "score")
    assert r.returncode == 0 and "no targets registered" in r.stdout


def test_ties_and_base_in_every_format(cli_env: dict[str, str], db_url: str) -> None:
    """Totals tie at 0.5; the base score (before the multiplier) orders them, in every format."""
    with session_scope(db_url) as s:
        build_tie_scenario(s)
    at = ["--at", AT.isoformat()]
    order = [("steady", 1, 2.0), ("twin-a", 2, 1.0), ("twin-b", 2, 1.0), ("broken", 4, 0.0)]

    r = clfwatch_in_process(cli_env, "score", *at, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["targets"]
    assert [(t["name"], t["rank"], t["base"]) for t in doc] == order
    assert {t["total"] for t in doc[:3]} == {0.5}
    assert doc[0]["components"]["auc"] == {"raw": None, "points": None, "reason": "no evaluation set loaded",
                                           "coverage": None}

    r = clfwatch_in_process(cli_env, "score", *at, "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(row["name"], int(row["rank"]), float(row["base"])) for row in rows] == order
    assert [row["total"] for row in rows] == ["0.5", "0.5", "0.5", "0.0"]

    r = clfwatch_in_process(cli_env, "score", *at)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = next(line for line in lines if line.startswith("rank"))
    starts = {m.group(): m.start() for m in re.finditer(r"\S+", header)}  # aligned columns

    def cell(line: str, column: str, following: str) -> str:
        return line[starts[column] : starts[following]].strip()

    table = [line for line in lines if line[:1].isdigit()]
    assert [(cell(line, "name", "latency"), int(cell(line, "rank", "name")),
             float(cell(line, "base", "lifetime"))) for line in table] == order
    assert "broken: latency 0 points: no valid answer to time" in r.stdout


def test_bad_name_pattern_is_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "course.toml"
    rules.write_text("[auc]\nname_pattern = '^PROD_ML_FALL_25|([A-Z]+'\n", encoding="utf-8")
    r = clfwatch_in_process(cli_env, "score", "--rules", str(rules))
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "auc.name_pattern: not a valid regular expression" in lines[0] and "course.toml" in lines[0]
