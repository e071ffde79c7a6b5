"""The LLM board over real rows on SQLite and Postgres, against grades computed by hand; the
classifier board beside it unchanged."""

from __future__ import annotations

import csv
import io
import json

import pytest

from scoring.board import compute_scoreboard, explain_target
from scoring.rules import DEFAULT_RULES, LLM_COMPONENTS, Rules
from storage.engine import session_scope
from tests.clfwatch.inproc import clfwatch_in_process
from tests.clfwatch.test_cli import clfwatch
from tests.scoring.data import AT, BASELINE_AUC, build_scenario
from tests.scoring.llm_data import LLM_EXPECTED, LLM_RAW, build_llm_scenario
from tests.scoring.test_board import EXPECTED as CLASSIFIER_EXPECTED


def boards(url: str, rules: Rules = DEFAULT_RULES):  # type: ignore[no-untyped-def]
    """The board of the classifier scenario alone, then with the LLM targets added."""
    with session_scope(url) as s:
        build_scenario(s)
    with session_scope(url) as s:
        before = compute_scoreboard(s, at=AT, rules=rules, baseline_auc=BASELINE_AUC)
    with session_scope(url) as s:
        build_llm_scenario(s)
    with session_scope(url) as s:
        after = compute_scoreboard(s, at=AT, rules=rules, baseline_auc=BASELINE_AUC)
    return before, after


def test_hand_computed_llm_board(db_url: str) -> None:
    before, board = boards(db_url)
    assert [t.name for t in board.llm_targets] == ["llm-fast", "llm-young", "llm-broken", "llm-flaky",
                                                   "llm-silent"]
    for t in board.llm_targets:
        points, multiplier, total, rank = LLM_EXPECTED[t.name]
        assert t.kind == "openai-chat" and set(t.components) == set(LLM_COMPONENTS)
        for name, want, raw in zip(LLM_COMPONENTS, points, LLM_RAW[t.name], strict=True):
            comp = t.components[name]
            assert comp.points == (pytest.approx(want) if want is not None else None), (t.name, name)
            assert comp.raw == (pytest.approx(raw) if raw is not None else None), (t.name, name)
            assert comp.reason
        assert (t.multiplier, t.total, t.rank) == (pytest.approx(multiplier), pytest.approx(total), rank)
    by_name = {t.name: t for t in board.llm_targets}
    # TTFT, not the 3 s end to end; p95 is rank 19 of 20, exact from raw rows
    assert by_name["llm-fast"].components["ttft"].reason.startswith(
        "p95 time to first token 1.1000 s over 20 ok chat probes; 0 at 2 s, full at 0.2 s")
    # the auth probes count nowhere: 20 chat probes, 20 health probes
    assert "20 of 20 chat probes answered 200" in by_name["llm-fast"].components["rate200"].reason
    assert "20 of 20 health probes ok" in by_name["llm-fast"].components["uptime"].reason
    assert by_name["llm-flaky"].components["ttft"].reason.endswith(
        "over 9 ok chat probes (1 without a valid streamed answer not timed); 0 at 2 s, full at 0.2 s")
    assert by_name["llm-broken"].components["ttft"].reason == "no valid streamed answer to time"
    assert by_name["llm-silent"].components["ttft"].reason == "no chat probes in the window"
    assert by_name["llm-silent"].last_probe_at is None and by_name["llm-fast"].last_probe_at is not None
    # ranks are within a kind: both boards have a rank 1, and the classifier board is as it was
    assert board.targets[0].rank == 1 and board.llm_targets[0].rank == 1
    doc_before, doc_after = before.to_dict(), board.to_dict()
    assert doc_before["targets"] == doc_after["targets"]
    assert "llm_targets" not in doc_before and len(doc_after["llm_targets"]) == 5
    for t in board.targets:
        _, _, total, rank = CLASSIFIER_EXPECTED[t.name]
        assert (t.total, t.rank) == (pytest.approx(total), rank)
        assert t.kind == "classifier"
    assert board.boards == {"classifier": board.targets, "openai-chat": board.llm_targets}
    assert board.target("llm-fast").kind == "openai-chat"


def test_ttft_statistic_weights_and_scales(db_url: str) -> None:
    rules = Rules(llm_ttft_statistic="mean", llm_ttft_weight=2.0, llm_uptime_zero_at=0.9,
                  llm_rate200_zero_at=0.8, lifetime_days=14.0)
    _, board = boards(db_url, rules)
    by_name = {t.name: t for t in board.llm_targets}
    fast = by_name["llm-fast"]
    # mean of the rollup hour: (18 × 500 + 2 × 1100) / 20 = 560 ms → (0.56 - 2) / (0.2 - 2) = 0.8
    assert fast.components["ttft"].raw == pytest.approx(0.56)
    assert fast.components["ttft"].points == pytest.approx(0.8)
    assert fast.total == pytest.approx((2 * 0.8 + 1 + 1) * 8 / 14)
    flaky = by_name["llm-flaky"]
    # uptime 0.95 on a 0.9..1 scale: 0.5; 200-rate 0.9 on 0.8..1: 0.5; TTFT 200 ms: full, weight 2
    assert flaky.components["uptime"].points == pytest.approx(0.5)
    assert flaky.components["rate200"].points == pytest.approx(0.5)
    assert flaky.base == pytest.approx(2 * 1.0 + 0.5 + 0.5)
    # the classifiers' rules did not move: alpha's latency is still 0.8 points
    assert board.target("alpha").components["latency"].points == pytest.approx(0.8)


def test_same_llm_board_on_sqlite_and_postgres(sqlite_url: str, pg_url: str) -> None:
    docs = [boards(url)[1].to_dict() for url in (sqlite_url, pg_url)]
    assert docs[0] == docs[1]


def test_explain_an_llm_target(db_url: str) -> None:
    _, board = boards(db_url)
    text = "\n".join(explain_target(board, "llm-fast"))
    for part in (
        "llm-fast: openai-chat target, rank 1 of 5 on the LLM board, total 2.5000",
        "ttft input: p95 of 20 ok chat probes' times to first token, exact, rank 19 of 20 raw rows",
        "inputs: 20 chat probes (20 ok, 20 answered 200), 20 health probes",
        "key-enforcement (auth) probes count in no component",
        "ttft: 1100.0 ms → 0.5000 points × weight 1",
        "points = clamp((1.100000 - 2) / (0.2 - 2))",
        "total = (1×0.5000 + 1×1.0000 + 1×1.0000) × 1.0000 = 2.5000 × 1.0000 = 2.5000",
    ):
        assert part in text, part
    assert "missing (no chat probes in the window)" in "\n".join(explain_target(board, "llm-silent"))
    # the classifiers' explanation still counts its own board
    assert "alpha: rank 1 of 5," in explain_target(board, "alpha")[0]


def test_score_cli_prints_both_boards(cli_env: dict[str, str], db_url: str) -> None:
    with session_scope(db_url) as s:
        build_scenario(s)
        build_llm_scenario(s)
    at = ["--at", AT.isoformat()]
    # Both boards in one table: a real process; the other formats and filters in this one.
    r = clfwatch(cli_env, "score", *at)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    order = [out.index(s) for s in ("classifiers", " alpha ", "LLM endpoints", " llm-fast ")]
    assert order == sorted(order)
    fast = next(line for line in out.splitlines() if " llm-fast " in line)
    assert fast.split()[0] == "1" and "1100.0 ms → 0.50" in fast and "2.50" in fast
    assert "llm-broken: ttft 0 points: no valid streamed answer to time" in out

    r = clfwatch_in_process(cli_env, "score", *at, "--kind", "openai-chat", "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["name"] for row in rows] == ["llm-fast", "llm-young", "llm-broken", "llm-flaky", "llm-silent"]
    assert rows[0]["ttft_s"] == "1.1" and rows[0]["ttft_points"] == "0.5" and rows[0]["total"] == "2.5"

    r = clfwatch_in_process(cli_env, "score", *at, "--kind", "classifier")
    assert r.returncode == 0 and "llm-fast" not in r.stdout and " alpha " in r.stdout

    r = clfwatch_in_process(cli_env, "score", *at, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [t["name"] for t in doc["llm_targets"]][0] == "llm-fast"
    assert "llm-fast" not in [t["name"] for t in doc["targets"]]

    r = clfwatch_in_process(cli_env, "score", *at, "--why", "llm-flaky")
    assert r.returncode == 0, r.stderr
    assert "openai-chat target, rank 3 of 5 on the LLM board" in r.stdout
