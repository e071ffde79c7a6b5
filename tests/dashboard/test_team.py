"""Team page on a seeded database (SQLite and Postgres): charts, failures, ROC, gaps, the why."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from core.settings import get_settings
from scoring.board import grade_now
from scoring.rules import GradingDefaults
from storage.engine import session_scope
from tests.dashboard.apptest import everything_rendered, open_page, shown_text
from tests.dashboard.conftest import SeededDashboard, clear_dashboard_caches


def chart_specs(at) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Plotly figures by title."""
    specs = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        specs[spec["layout"]["title"]["text"]] = spec
    return specs


def test_team_page_of_the_healthy_target(dashboard_env: SeededDashboard) -> None:
    at = open_page("team")
    assert not at.exception
    assert at.selectbox(key="team_target").value == "alpha-team"
    with session_scope(dashboard_env.url) as session:
        defaults = GradingDefaults(defense_at=get_settings().defense_at)
        graded = grade_now(session, defaults).target("alpha-team")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rank"] == "1"
    assert float(metrics["Total"]) == pytest.approx(graded.total, abs=2e-3)
    assert metrics["Stress"] == f"{dashboard_env.stress_score}/10"
    assert metrics["AUC (latest answers)"] == f"{graded.components['auc'].raw:.3f}"
    text = shown_text(at)
    assert "No failed probes in this window." in text
    assert "alpha-team: rank 1 of 3" in text  # the why
    assert "total = (" in text
    assert "AUC coverage: 100.0 % of the evaluation set answered validly" in text
    assert not at.warning  # nothing zeroed by a rule
    specs = chart_specs(at)
    assert set(specs) == {"Heartbeat: last 100 probes per kind", "Predict latency of ok answers per hour",
                          "Uptime per hour (health probes ok)", "AUC per day (its newest answers, UTC days)",
                          "200-rate per hour (predict probes)", "ROC curve of the latest answers"}
    latency = specs["Predict latency of ok answers per hour"]
    lines = {t["name"]: t["y"] for t in latency["data"]}
    assert set(lines) == {"p99", "p50–p99", "p95", "p50"}  # the band: p50 up to p99, p95 inside
    p50, p95, p99 = lines["p50"], lines["p95"], lines["p99"]
    assert len(p50) >= 20 and all(a <= b <= c for a, b, c in zip(p50, p95, p99, strict=True))
    assert latency["layout"]["yaxis"]["ticksuffix"] == " ms"
    # the heartbeat strip: one cell per probe, the newest 100 of each kind
    strip = specs["Heartbeat: last 100 probes per kind"]["data"][0]
    assert [len([v for v in row if v is not None]) for row in strip["z"]] == [100, 100]
    # the prober gap of the seed is shaded on every time chart
    gap_start, gap_end = dashboard_env.gap
    for title in ("Predict latency of ok answers per hour", "Uptime per hour (health probes ok)"):
        shapes = specs[title]["layout"]["shapes"]
        assert len(shapes) == 1
        assert abs(datetime.fromisoformat(shapes[0]["x0"]).timestamp() - gap_start.timestamp()) < 2
        assert abs(datetime.fromisoformat(shapes[0]["x1"]).timestamp() - gap_end.timestamp()) < 2
    roc = specs["ROC curve of the latest answers"]["data"][1]
    assert roc["x"][0] == 0.0 and roc["x"][-1] == 1.0 and roc["y"][-1] == 1.0
    assert roc["name"] == f"ROC (AUC {graded.components['auc'].raw:.3f})"


def test_team_page_of_a_failing_target(dashboard_env: SeededDashboard) -> None:
    at = open_page("team")
    at.selectbox(key="team_target").select("bravo-team")
    at.run()
    assert not at.exception
    failures = at.dataframe[0].value
    assert set(failures["outcome"]) == {"http_error"}
    assert set(failures["status"]) == {"HTTP 500"}
    assert set(failures["reason"]) == {"answered HTTP 500"}  # clfwatch's phrase, never the probe's detail
    assert "detail" not in failures.columns
    text = shown_text(at)
    assert "bravo-team: rank 3 of 3" in text
    assert "Rank: 3" in text
    rate = chart_specs(at)["200-rate per hour (predict probes)"]["data"][0]["y"]
    assert min(rate) < 100.0


@pytest.mark.parametrize(("target", "expect"), [("charlie-team", "connect_error"), ("nobody", None)])
def test_team_page_deep_link(dashboard_env: SeededDashboard, target: str, expect: str | None) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP_PATH, APP_TIMEOUT_S

    at = AppTest.from_file(APP_PATH, default_timeout=APP_TIMEOUT_S)
    at.run()
    at.switch_page("app_pages/team.py")
    at.query_params["target"] = target
    at.run()
    chosen = at.selectbox(key="team_target").value
    if expect is None:
        assert chosen == "alpha-team"  # unknown names fall back to the first target
    else:
        assert chosen == target
        assert expect in set(at.dataframe[0].value["outcome"])


def test_team_page_never_shows_labels_or_tokens(dashboard_env: SeededDashboard) -> None:
    at = open_page("team")
    for name in dashboard_env.targets:
        at.selectbox(key="team_target").select(name)
        at.run()
        rendered = everything_rendered(at)
        assert dashboard_env.token not in rendered
        for sample_id in dashboard_env.sample_ids:
            assert sample_id not in rendered
        assert "evaluation text number" not in rendered


def test_team_page_lists_the_targets_changes(dashboard_env: SeededDashboard) -> None:
    from storage.targets import update_target

    at = open_page("team")
    at.selectbox(key="team_target").select("charlie-team")
    at.run()
    assert "No changes recorded since registration." in shown_text(at)
    with session_scope(dashboard_env.url) as session:
        update_target(session, "charlie-team", actor="team", base_url="http://127.0.0.1:8111",
                      token="tok-charlie-never-shown")
    clear_dashboard_caches()
    at.run()
    assert not at.exception
    found = [f.value for f in at.dataframe if list(f.value.columns) == ["at", "who", "fields"]]
    assert len(found) == 1
    history = found[0]
    assert history["who"].tolist() == ["team"]
    assert set(history["fields"][0].split(", ")) == {"base_url", "token"}
    rendered = everything_rendered(at)
    assert "tok-charlie-never-shown" not in rendered  # a field's name, never its value
    assert "127.0.0.1:8111" not in rendered
