"""Only a run of the whole suite, with the course's bars and the target as registered, becomes
its stress points: ``--only spike`` scoring 1/10 must not replace a 9/10 (DESIGN: "one point per
scenario passed, out of ten")."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from storage.engine import engine_for, session_scope
from storage.stress import add_stress_result, create_stress_run, finish_stress_run, latest_stress_points
from storage.targets import add_target
from stress.bars import DEFAULT_BARS
from stress.runner import not_graded_because
from tests.clfwatch.inproc import clfwatch_in_process
from tests.servers import uvicorn_thread
from tests.storage.test_migrations import _upgrade_to
from tests.stress.apps import healthy_app


@pytest.mark.parametrize(
    ("ran_all", "bars", "token", "model", "because"),
    [
        (True, None, None, None, None),
        (True, DEFAULT_BARS, None, None, None),
        (True, DEFAULT_BARS.with_overrides({}), None, None, None),
        (False, None, None, None, "--only ran part of the suite"),
        (True, DEFAULT_BARS.with_overrides({"spike_users": 3}), None, None, "--bar changed the bars"),
        (True, None, "KEY", None, "--token replaced the registered key"),
        (True, None, None, "m", "--model replaced the registered model"),
        (False, None, "", None, "--only ran part of the suite; --token replaced the registered key"),
    ],
)
def test_what_keeps_a_run_out_of_the_grade(ran_all, bars, token, model, because) -> None:  # type: ignore[no-untyped-def]
    assert not_graded_because(ran_all=ran_all, bars=bars, token=token, model=model) == because


def _finished_run(url: str, target_id: int, passed: int) -> None:
    with session_scope(url) as session:
        run_id = create_stress_run(session, target_url="http://127.0.0.1:1", target_id=target_id)
        for i in range(10):
            add_stress_result(session, run_id=run_id, scenario=f"s{i}", passed=i < passed, evidence={})
        finish_stress_run(session, run_id=run_id, status="finished")


def test_a_run_of_one_scenario_keeps_the_targets_stress_points(cli_env: dict[str, str], db_url: str) -> None:
    with uvicorn_thread(healthy_app()) as base:
        with session_scope(db_url) as session:
            tid = add_target(session, name="team-a", base_url=base).id
        _finished_run(db_url, tid, passed=9)
        r = clfwatch_in_process(cli_env, "stress", "run", "team-a", "--only", "contract")
    assert r.returncode == 0, r.stderr
    assert "score 1/10 for team-a (finished)" in r.stdout
    assert "not the target's stress points: --only ran part of the suite" in r.stdout
    with session_scope(db_url) as session:
        assert latest_stress_points(session) == {tid: 9}
    board = json.loads(clfwatch_in_process(cli_env, "score", "--format", "json").stdout)
    assert [t["stress_points"] for t in board["targets"]] == [9]


def test_runs_stored_before_0011_count_only_when_they_hold_every_verdict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _upgrade_to(url, "0010")
    with engine_for(url).begin() as conn:
        conn.execute(text("INSERT INTO stress_runs (id, target_url, started_at, status, score, suite) "
                          "VALUES (1, 'u', '2026-12-01 10:00:00', 'finished', 9, 'classifier'), "
                          "(2, 'u', '2026-12-02 10:00:00', 'finished', 1, 'classifier')"))
        verdict = text("INSERT INTO stress_results (run_id, scenario, passed, evidence, finished_at) "
                       "VALUES (:r, :s, 1, '{}', '2026-12-02 10:00:00')")
        for run_id, verdicts in ((1, 10), (2, 1)):
            for i in range(verdicts):
                conn.execute(verdict, {"r": run_id, "s": f"s{i}"})
    _upgrade_to(url, "head")
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT id, graded FROM stress_runs"))
        graded = {run_id: bool(flag) for run_id, flag in rows}
    engine_for(url).dispose()
    assert graded == {1: True, 2: False}
