"""The scoreboard over real rows on SQLite and Postgres, against grades computed by hand."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from scoring.board import (
    UnknownTargetError,
    compute_scoreboard,
    explain_target,
    grade_now,
    submission_baseline,
)
from scoring.rules import DEFAULT_RULES, Rules, load_grading_defaults
from storage.engine import session_scope
from storage.grading import set_grading_config
from tests.scoring.data import AT, BASELINE_AUC, EVAL, build_scenario

# name -> (latency, uptime, rate200, auc points; multiplier; total; rank), worked out in data.py.
# gamma answered 3 of the 4 samples validly: below the 90 % coverage its AUC 1.0 earns 0 and takes
# no place, so alpha and eps are the two above the baseline (places 1 and 2: 1 and 1/2 points).
EXPECTED = {
    "alpha": ((0.8, 1.0, 1.0, 1.0), 1.0, 3.8, 1),
    "eps": ((0.0, None, 1.0, 0.5), 1.0, 1.5, 2),
    "gamma": ((0.0, 1.0, 0.0, 0.0), 1.0, 1.0, 3),
    "beta": ((0.5, 0.0, 1.0, 0.0), 0.5, 0.75, 4),
    "delta": ((None, None, None, None), 1.0, 0.0, 5),
}
RAW = {
    "alpha": (0.1, 1.0, 1.0, 1.0),
    "gamma": (0.6, 1.0, 0.75, 1.0),
    "eps": (0.5, None, 1.0, 0.75),
    "beta": (0.25, 0.95, 1.0, 0.5),
    "delta": (None, None, None, None),
}
COMPONENTS = ("latency", "uptime", "rate200", "auc")


def scenario_board(url: str, rules: Rules = DEFAULT_RULES):  # type: ignore[no-untyped-def]
    with session_scope(url) as s:
        build_scenario(s)
    with session_scope(url) as s:
        return compute_scoreboard(s, at=AT, rules=rules, baseline_auc=BASELINE_AUC)


def test_hand_computed_scoreboard(db_url: str) -> None:
    board = scenario_board(db_url)
    assert [t.name for t in board.targets] == ["alpha", "eps", "gamma", "beta", "delta"]
    for t in board.targets:
        points, multiplier, total, rank = EXPECTED[t.name]
        for name, want, raw in zip(COMPONENTS, points, RAW[t.name], strict=True):
            comp = t.components[name]
            assert comp.points == (pytest.approx(want) if want is not None else None), (t.name, name)
            assert comp.raw == (pytest.approx(raw) if raw is not None else None), (t.name, name)
            assert comp.reason
        assert (t.multiplier, t.total, t.rank) == (pytest.approx(multiplier), pytest.approx(total), rank)
    by_name = {t.name: t for t in board.targets}
    # the prober's gap is listed for everyone whose window holds it, and never charged
    gap = (AT - timedelta(days=2), AT - timedelta(days=1))
    assert by_name["gamma"].gaps == [gap] and by_name["beta"].gaps == [gap]
    assert "gap" in by_name["gamma"].components["uptime"].reason
    assert by_name["gamma"].components["auc"].reason == "answered 75 % of the evaluation set"
    assert by_name["gamma"].auc_coverage == 0.75 and by_name["gamma"].auc_place is None
    assert by_name["eps"].components["auc"].reason.startswith("AUC 0.7500 on 4 of 4 samples; place 2 of 2")
    # gamma's one 500 is not timed: its latency is the mean of its three ok answers
    assert "over 3 ok predict probes (1 without a valid answer not timed)" in (
        by_name["gamma"].components["latency"].reason)
    assert "no health probes" in by_name["eps"].components["uptime"].reason
    assert by_name["delta"].components["latency"].reason == "no predict probes in the window"
    assert by_name["delta"].components["auc"].reason == "no evaluation sample answered ok"
    assert by_name["delta"].last_probe_at is None
    assert by_name["alpha"].last_probe_at == AT - timedelta(hours=1) + timedelta(minutes=3)
    assert by_name["beta"].lifetime_s == pytest.approx(3.5 * 86400)


def test_auc_by_value_and_weights(db_url: str) -> None:
    board = scenario_board(db_url, Rules(auc_mode="value", uptime_weight=2.0, lifetime_days=14.0))
    by_name = {t.name: t for t in board.targets}
    # by value: (0.75 - 0.6) / (1.0 - 0.6)
    assert by_name["eps"].components["auc"].points == pytest.approx(0.375)
    assert by_name["alpha"].multiplier == pytest.approx(8 / 14)
    assert by_name["alpha"].total == pytest.approx((0.8 + 2 * 1.0 + 1.0 + 1.0) * 8 / 14)


@pytest.mark.parametrize("rules", [DEFAULT_RULES, Rules(latency_statistic="p95", auc_mode="value")])
def test_same_scoreboard_on_sqlite_and_postgres(sqlite_url: str, pg_url: str, rules: Rules) -> None:
    docs = [scenario_board(url, rules).to_dict() for url in (sqlite_url, pg_url)]
    assert docs[0] == docs[1]
    assert [t["name"] for t in docs[0]["targets"]][:2] == ["alpha", "eps"]


def test_document_explain_and_no_labels(db_url: str) -> None:
    board = scenario_board(db_url)
    doc = board.to_dict()
    assert set(doc) == {"at", "rules", "targets"} and doc["at"] == "2026-03-08T00:30:00Z"
    assert doc["rules"]["latency"]["zero_at_s"] == 0.5
    first = doc["targets"][0]
    assert set(first) == {"name", "rank", "components", "base", "multiplier", "total", "stress_points",
                          "gaps"}
    assert set(first["components"]) == set(COMPONENTS)
    assert set(first["components"]["auc"]) == {"raw", "points", "reason", "coverage"}
    assert set(first["components"]["latency"]) == {"raw", "points", "reason"}
    assert first["components"]["auc"]["coverage"] == 1.0 and first["base"] == 3.8
    assert doc["targets"][-1]["components"]["latency"]["points"] is None
    assert first["gaps"] == [["2026-03-06T00:30:00Z", "2026-03-07T00:30:00Z"]]
    why = explain_target(board, "beta")
    text = "\n".join(why)
    assert "multiplier = min(lifetime, 7 d) / 7 d = 0.5000" in text
    assert "total = (1×0.5000 + 1×0.0000 + 1×1.0000 + 1×0.0000) × 0.5000" in text
    assert "at or below the baseline 0.6000" in text
    assert "missing" in "\n".join(explain_target(board, "delta"))
    with pytest.raises(UnknownTargetError):
        explain_target(board, "nobody")
    # only aggregate numbers leave scoring: no sample id, hence no label, in any output
    everything = json.dumps(doc) + "".join("\n".join(explain_target(board, t.name)) for t in board.targets)
    for sample_id in EVAL:
        assert sample_id not in everything


def test_grade_now_resolves_config(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as s:
        build_scenario(s)
        set_grading_config(s, defense_at=AT, rules_toml='[auc]\nmode = "value"\n', baseline_auc=0.6)

    class FakeSettings:
        defense_at = None
        rules_file = None

    with session_scope(db_url) as s:
        board = grade_now(s, load_grading_defaults(rules_file=FakeSettings.rules_file,
                                                  defense_at=FakeSettings.defense_at))
    assert board.at == AT and board.rules.auc_mode == "value" and board.baseline_auc == 0.6
    assert board.baseline_reason == "set in the grading configuration"
    with session_scope(db_url) as s:
        set_grading_config(s, rules_toml=None, baseline_auc=None)
    FakeSettings.rules_file = tmp_path / "rules.toml"  # type: ignore[assignment]
    FakeSettings.rules_file.write_text("[lifetime]\ndays = 14\n")  # type: ignore[attr-defined]
    with session_scope(db_url) as s:
        board = grade_now(s, load_grading_defaults(rules_file=FakeSettings.rules_file,
                                                  defense_at=FakeSettings.defense_at))
    assert board.rules.lifetime_days == 14 and board.rules.auc_mode == "rank"
    # the baseline now comes from the service's sample_submission.csv, or says why not
    assert board.baseline_auc is not None or board.baseline_reason


@pytest.mark.parametrize(
    ("content", "auc", "reason"),
    [
        ("id,probability\ns1,0.1\ns2,0.7\ns3,0.6\ns4,0.9\n", 0.75, "AUC of sub.csv on 4 samples"),
        ("id,probability\ns1,0.1\ns2,0.7\nzz,0.6\n", None, "one class"),
        ("id,prob\ns1,0.1\n", None, "lacks the columns"),
        ("id,probability\ns1,high\n", None, "line 2"),
        (None, None, "not found"),
    ],
)
def test_submission_baseline(tmp_path: Path, content: str | None, auc: float | None, reason: str) -> None:
    path = tmp_path / "sub.csv"
    if content is not None:
        path.write_text(content)
    value, why = submission_baseline(EVAL, path)
    assert value == (pytest.approx(auc) if auc is not None else None)
    assert reason in why
