"""Overload is never charged (issue 17): probes marked as the prober's lateness are in no grade.

A target whose probes the prober started late (timeouts, 500s and slow answers read by an
overloaded prober) gets exactly the grade of a twin with only its on-time probes, on SQLite and
Postgres, from rollup hours and raw edge rows alike, for the mean and the p95 statistic.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from scoring.board import compute_scoreboard
from scoring.rules import DEFAULT_RULES, Rules
from storage.engine import session_scope
from storage.evalset import replace_eval_set
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target
from tests.scoring.data import AT, EVAL, probe, prober_ran
from tests.storage.test_probes_storage import assert_rollups_match_raw

LATE_MS = 1500.0


def on_time_rows(target_id: int, start) -> list[ProbeRow]:  # type: ignore[no-untyped-def]
    rows = []
    for i in range(60):  # every 20 min over 20 h, not hour-aligned: rollups and raw edges
        at = start + timedelta(minutes=20 * i)
        sample = f"s{1 + i % 4}"
        rows.append(probe(target_id, "health", at, latency_ms=5.0))
        rows.append(probe(target_id, "predict", at + timedelta(seconds=5), latency_ms=100.0,
                          sample_id=sample, probability=0.1 + 0.25 * (i % 4)))
    return rows


def late_rows(target_id: int, start) -> list[ProbeRow]:  # type: ignore[no-untyped-def]
    """What an overloaded prober records: its own delay read as timeouts, errors, slow answers."""
    rows = []
    for i in range(40):
        at = start + timedelta(minutes=30 * i, seconds=10)  # reaches the edge hour before AT
        rows.append(probe(target_id, "health", at, outcome="timeout", status=None, latency_ms=None))
        rows.append(probe(target_id, "predict", at, outcome="timeout", status=None, latency_ms=None))
        rows.append(probe(target_id, "predict", at + timedelta(seconds=1), latency_ms=1900.0,
                          sample_id="s1", probability=0.1))
        rows.append(probe(target_id, "predict", at + timedelta(seconds=2), outcome="http_error",
                          status=500, latency_ms=3.0))
    return [dataclasses.replace(r, prober_late_ms=LATE_MS) for r in rows]


@pytest.mark.parametrize("statistic", ["mean", "p95"])
def test_late_probes_are_kept_but_never_graded(db_url: str, statistic: str) -> None:
    start = AT - timedelta(hours=20, minutes=-7)
    with session_scope(db_url) as s:
        replace_eval_set(s, [(k, f"text {k}", v) for k, v in EVAL.items()])
        prober_ran(s, AT - timedelta(days=2), AT)
        steady = add_target(s, name="steady", base_url="http://127.0.0.1:9",
                            registered_at=AT - timedelta(days=3)).id
        hit = add_target(s, name="hit", base_url="http://127.0.0.1:9",
                         registered_at=AT - timedelta(days=3)).id
    with session_scope(db_url) as s:
        record_probes(s, on_time_rows(steady, start) + on_time_rows(hit, start) + late_rows(hit, start))
    assert_rollups_match_raw(db_url)  # late rows in n_late only

    rules = Rules(latency_statistic=statistic) if statistic != "mean" else DEFAULT_RULES
    with session_scope(db_url) as s:
        board = compute_scoreboard(s, at=AT, rules=rules, baseline_auc=0.5)
    fair, charged = board.target("steady"), board.target("hit")
    for name in ("latency", "uptime", "rate200", "auc"):
        assert charged.components[name] == fair.components[name], name
    assert charged.components["uptime"].points == 1.0 and charged.components["rate200"].points == 1.0
    assert charged.components["latency"].raw == pytest.approx(0.1)
    assert charged.total == pytest.approx(fair.total)

    # The same rows unmarked would cost the team: the test can fail.
    with session_scope(db_url) as s:
        unmarked = add_target(s, name="unmarked", base_url="http://127.0.0.1:9",
                              registered_at=AT - timedelta(days=3)).id
        rows = on_time_rows(unmarked, start) + [
            dataclasses.replace(r, prober_late_ms=None) for r in late_rows(unmarked, start)
        ]
        record_probes(s, [dataclasses.replace(r, probe_uid=f"u-{i}") for i, r in enumerate(rows)])
    with session_scope(db_url) as s:
        board = compute_scoreboard(s, at=AT, rules=rules, baseline_auc=0.5)
    assert board.target("unmarked").components["uptime"].points < 1.0
    assert board.target("unmarked").total < board.target("steady").total
