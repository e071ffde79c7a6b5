"""The reference service passes all ten scenarios; a run is stored as it goes."""

from __future__ import annotations

import json
from pathlib import Path

from storage.engine import session_scope
from storage.stress import latest_stress_points, list_stress_runs
from storage.targets import add_target
from stress.runner import run_stress
from stress.scenarios import SCENARIO_NAMES
from stress.target import TargetSpec
from tests.reference import reference_service
from tests.stress.apps import TEST_BARS

API_KEY = "ref-key-9d2c41b7-never-printed"


def test_all_ten_pass_against_the_reference_service(trained_model_dir: Path, sqlite_url: str) -> None:
    db_url = sqlite_url  # both databases are covered by tests/stress/test_cli.py
    with reference_service(trained_model_dir) as url:
        with session_scope(db_url) as session:
            target_id = add_target(session, name="reference", base_url=url).id
        seen: list[str] = []
        report = run_stress(
            url,
            database_url=db_url,
            target_name="reference",
            only=None,
            workers=0,
            on_result=lambda r: seen.append(r.scenario),
            bars=TEST_BARS,
        )
    failed = {r.scenario: r.evidence for r in report.results if not r.passed}
    assert not failed, json.dumps(failed, indent=1)[:4000]
    assert seen == list(SCENARIO_NAMES)
    document = report.to_dict()
    assert document["score"] == 10 and document["target"] == "reference"
    with session_scope(db_url) as session:
        run = list_stress_runs(session)[0]
        assert (run.status, run.score, len(run.results)) == ("finished", 10, 10)
        # TEST_BARS are the course's bars scaled down for a test run: a run under other bars
        # than the course's is not graded (tests/stress/test_graded.py), so no stress points.
        assert latest_stress_points(session) == {} and run.target_id == target_id
    assert document["not_graded_because"] == "--bar changed the bars"


def test_the_token_is_sent_and_never_shown(trained_model_dir: Path) -> None:
    with reference_service(trained_model_dir, api_key=API_KEY) as url:
        with_token = run_stress(
            url,
            database_url=None,
            target_name=None,
            only=["contract", "spike"],
            workers=0,
            on_result=None,
            bars=TEST_BARS,
            spec=TargetSpec(url, token=API_KEY),
        )
        without = run_stress(
            url,
            database_url=None,
            target_name=None,
            only=["contract"],
            workers=0,
            on_result=None,
            bars=TEST_BARS,
        )
    assert [r.passed for r in with_token.results] == [True, True], with_token.to_dict()
    assert without.results[0].passed is False
    assert "401" in without.results[0].evidence["first_failure"]["reason"]
    assert API_KEY not in json.dumps(with_token.to_dict()) + json.dumps(without.to_dict())
