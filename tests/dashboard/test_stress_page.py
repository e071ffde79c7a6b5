"""Stress page on a seeded database (SQLite and Postgres): runs, verdicts, evidence, curl lines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI, Request  # module level: FastAPI resolves the string annotations here
from fastapi.responses import JSONResponse

from storage.engine import session_scope
from storage.stress import add_stress_result, create_stress_run
from storage.targets import get_target
from tests.dashboard.apptest import button, everything_rendered, open_page, shown_text
from tests.dashboard.conftest import ADMIN_PASSWORD, SCENARIO_NAMES, SeededDashboard


def test_stress_page_shows_the_ten_verdicts(dashboard_env: SeededDashboard) -> None:
    at = open_page("stress")
    assert not at.exception
    runs, verdicts = at.dataframe[0].value, at.dataframe[1].value
    assert runs["target"].tolist() == [dashboard_env.stress_target]
    assert runs["score"].tolist() == [f"{dashboard_env.stress_score}/10"]
    assert runs["status"].tolist() == ["finished"]
    assert verdicts["scenario"].tolist() == list(SCENARIO_NAMES)
    failed = verdicts[verdicts["verdict"] == "FAIL"]["scenario"].tolist()
    assert failed == list(dashboard_env.failed_scenarios)
    assert (verdicts["verdict"] != "FAIL").sum() == dashboard_env.stress_score
    commands = [c.value for c in at.code]
    assert len(commands) == len(dashboard_env.failed_scenarios)
    assert all(c.startswith("curl ") and "http://127.0.0.1:9/predict" in c for c in commands)
    assert "huge_payload: 9 of 12 got 500" in shown_text(at)


@pytest.mark.parametrize(("target", "runs"), [("alpha-team", 1), ("bravo-team", 0)])
def test_stress_page_filters_by_target(dashboard_env: SeededDashboard, target: str, runs: int) -> None:
    at = open_page("stress")
    assert f"{target} · classifier" in at.selectbox(key="stress_target").options  # the kind is shown
    at.selectbox(key="stress_target").select(target)
    at.run()
    if runs:
        assert at.dataframe[0].value["target"].tolist() == [target]
    else:
        assert "No stress runs yet." in shown_text(at)
        assert not at.dataframe


def test_a_running_run_shows_pending_verdicts_and_hides_tokens(dashboard_env: SeededDashboard) -> None:
    with session_scope(dashboard_env.url) as session:
        alpha = get_target(session, "alpha-team")
        run_id = create_stress_run(session, target_url=alpha.base_url, target_id=alpha.id,
                                   started_at=dashboard_env.now - timedelta(minutes=1))
        add_stress_result(session, run_id=run_id, scenario="contract", passed=False, evidence={
            "summary": "leaked the token back",
            "first_failure": {
                "request": {"headers": [["Authorization", f"Bearer {dashboard_env.token}"]]},
                "response": {"body": f"echo: {dashboard_env.token}"},
                "curl": f"curl -H 'Authorization: Bearer {dashboard_env.token}' http://127.0.0.1:9/predict",
            },
        })
        add_stress_result(session, run_id=run_id, scenario="malformed_json", passed=True,
                          evidence={"summary": "fine", "note": "Bearer $CLFWATCH_TOKEN stays a variable"})
    at = open_page("stress")
    assert not at.exception
    runs = at.dataframe[0].value
    assert runs["status"].tolist()[0] == "running"
    verdicts = at.dataframe[1].value.set_index("scenario")["verdict"]
    assert verdicts["contract"] == "FAIL"
    assert verdicts["malformed_json"] == "pass"
    assert (verdicts == "pending").sum() == len(SCENARIO_NAMES) - 2
    assert "A run is in progress" in shown_text(at)
    rendered = everything_rendered(at)
    assert dashboard_env.token not in rendered
    assert "Bearer <token>" in rendered
    assert "$CLFWATCH_TOKEN" in rendered
    assert "curl -H 'Authorization: Bearer <token>' http://127.0.0.1:9/predict" in [c.value for c in at.code]


def test_a_run_against_a_silent_target_shows_why_and_the_counts(dashboard_env: SeededDashboard) -> None:
    """The preflight row of a run that stopped before any scenario; counts apart for every row."""
    from storage.stress import finish_stress_run

    reason = "http://127.0.0.1:9 does not answer: connection refused (10 tries over 4.0 s)"
    with session_scope(dashboard_env.url) as session:
        alpha = get_target(session, "alpha-team")
        run_id = create_stress_run(session, target_url=alpha.base_url, target_id=alpha.id,
                                   started_at=dashboard_env.now - timedelta(seconds=30))
        add_stress_result(session, run_id=run_id, scenario="preflight", passed=False, evidence={
            "summary": reason, "requests": 10, "answered": 0, "refused": 10, "timeouts": 0,
            "transport_errors": 0, "status_counts": {"error:refused": 10},
        })
        finish_stress_run(session, run_id=run_id, status="failed")
    at = open_page("stress")
    assert not at.exception
    assert f"Stopped before any scenario: {reason}" in [e.value for e in at.error]
    verdicts = at.dataframe[1].value.set_index("scenario")
    assert verdicts.loc["preflight", "verdict"] == "FAIL"
    assert (verdicts.loc["preflight", "answered"], verdicts.loc["preflight", "refused"]) == (0, 10)
    assert (verdicts.loc[list(SCENARIO_NAMES), "verdict"] == "not run").all()


def test_starting_a_run_needs_the_admin(admin_env: SeededDashboard) -> None:
    at = open_page("stress")
    assert not [b for b in at.button if b.label == "Start stress run"]
    at.text_input(key="stress_password").input("not-it")
    button(at, "Sign in").click()
    at.run()
    assert "Wrong password." in shown_text(at)
    assert not [b for b in at.button if b.label == "Start stress run"]
    at.text_input(key="stress_password").input(ADMIN_PASSWORD)
    button(at, "Sign in").click()
    at.run()
    assert [b.label for b in at.button if b.label == "Start stress run"] == ["Start stress run"]


def test_without_admin_password_no_run_can_be_started(dashboard_env: SeededDashboard) -> None:
    at = open_page("stress")
    assert "Admin is off" in shown_text(at)
    assert not [b for b in at.button if b.label in ("Start stress run", "Sign in")]


def contract_app():  # type: ignore[no-untyped-def]
    """A tiny classifier that honours the contract, so the ``contract`` scenario passes quickly."""
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": "bad json"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) \
                or not isinstance(body.get("text"), str):
            return JSONResponse({"detail": "bad body"}, status_code=422)
        return JSONResponse({"id": body["id"], "probability": 0.25 if "bot" in body["text"] else 0.75})

    return app


def test_admin_starts_a_run_and_watches_it(admin_env: SeededDashboard) -> None:
    import time

    from dashboard import stress_launcher
    from storage.stress import list_stress_runs
    from storage.targets import add_target
    from tests.servers import uvicorn_thread

    with uvicorn_thread(contract_app()) as base_url:
        with session_scope(admin_env.url) as session:
            target_id = add_target(session, name="live-team", base_url=base_url).id
        at = open_page("stress")
        at.text_input(key="stress_password").input(ADMIN_PASSWORD)
        button(at, "Sign in").click()
        at.run()
        at.selectbox(key="stress_stress_target").select("live-team")
        at.multiselect(key="stress_stress_only").select("contract")
        try:
            button(at, "Start stress run").click()
            at.run()
            assert "Stress run started against live-team" in shown_text(at)
            deadline = time.monotonic() + 90
            status = None
            while time.monotonic() < deadline:
                with session_scope(admin_env.url) as session:
                    runs = list_stress_runs(session, target_id=target_id)
                    status = runs[0].status if runs else None
                if status not in (None, "running"):
                    break
                time.sleep(0.5)
            assert status == "finished"
            pids = [launch.pid for launch in at.session_state["clfwatch_stress_launches"]]
            while stress_launcher.stress_launch_state(pids[0]) == "running" and time.monotonic() < deadline:
                time.sleep(0.2)
            at.selectbox(key="stress_target").select("live-team")
            at.run()
        finally:
            stress_launcher.stop_stress_launches()
    runs = at.dataframe[0].value
    assert runs["target"].tolist() == ["live-team"]
    assert runs["status"].tolist() == ["finished"]
    assert runs["score"].tolist() == ["1/10"]
    verdicts = at.dataframe[1].value.set_index("scenario")["verdict"]
    assert verdicts["contract"] == "pass"
    assert (verdicts == "not run").sum() == 9
    assert "Stress run against live-team finished." in shown_text(at)


def test_an_llm_suite_run_is_listed_beside_the_classifier_runs(dashboard_env: SeededDashboard) -> None:
    """A run of the LLM suite: its suite in the list, its verdicts in the LLM suite's order, the
    key a shell variable ($KEY) in its curl lines, an echoed key never shown."""
    from core.contract import LlmScenarioName

    with session_scope(dashboard_env.url) as session:
        alpha = get_target(session, "alpha-team")
        run_id = create_stress_run(session, target_url=alpha.base_url, target_id=alpha.id, suite="llm",
                                   started_at=dashboard_env.now - timedelta(seconds=10), graded=False)
        add_stress_result(session, run_id=run_id, scenario="models_list", passed=False, evidence={
            "summary": "GET /v1/models: data[0].created: field required",
            "curl": 'curl -sS -i -X GET -H "Authorization: Bearer $KEY" http://127.0.0.1:9/v1/models',
            "first_failure": {"response": {"body": f"echo {dashboard_env.token}"}},
        })
        add_stress_result(session, run_id=run_id, scenario="chat_schema", passed=True,
                          evidence={"summary": "all 3 requests answered acceptably"})
    at = open_page("stress")
    assert not at.exception
    runs = at.dataframe[0].value
    assert runs["suite"].tolist() == ["llm", "classifier"]  # newest first, both suites
    assert runs["score"].tolist() == ["1/10", f"{dashboard_env.stress_score}/10"]
    assert runs["graded"].tolist() == ["no (--only, --bar, --token or --model)", "yes"]
    verdicts = at.dataframe[1].value
    assert verdicts["scenario"].tolist() == [str(n) for n in LlmScenarioName]
    assert verdicts.set_index("scenario")["verdict"].to_dict() == {
        **{str(n): "pending" for n in LlmScenarioName}, "chat_schema": "pass", "models_list": "FAIL",
    }
    assert 'curl -sS -i -X GET -H "Authorization: Bearer $KEY" http://127.0.0.1:9/v1/models' in [
        c.value for c in at.code
    ]
    assert "data[0].created: field required" in shown_text(at)
    assert dashboard_env.token not in everything_rendered(at)
