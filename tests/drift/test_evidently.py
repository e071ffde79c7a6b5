"""Model-change reports pushed to a real Evidently UI service on loopback (telemetry off)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from drift.model_changes import ModelChange
from drift.reports import (
    MODEL_CHANGE_PANEL_TITLE,
    ChangeResult,
    EvidentlyPusher,
    ReportRef,
    run_drift,
)
from tests.conftest import free_port
from tests.drift.test_reports import T0, good, inverted, seed_target, settings_for
from tests.servers import process

EVIDENTLY_BIN = Path(sys.executable).parent / "evidently"
PROJECT = "clfwatch-drift-test"
UI_READY_TIMEOUT_S = 90.0
H = timedelta(hours=1)


@pytest.fixture
def evidently_ui(tmp_path: Path) -> Iterator[str]:
    """``evidently ui`` on a free loopback port with its own workspace; DO_NOT_TRACK=1."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["DO_NOT_TRACK"] = "1"
    url = f"http://127.0.0.1:{port}"
    cmd = [str(EVIDENTLY_BIN), "ui", "--host", "127.0.0.1", "--port", str(port),
           "--workspace", str(tmp_path / "workspace")]
    with process(cmd, ready_url=f"{url}/api/version", env=env, cwd=tmp_path,
                 log_path=tmp_path / "evidently.log", timeout_s=UI_READY_TIMEOUT_S):
        yield url


def _projects(url: str, name: str) -> list[dict[str, object]]:
    projects = httpx.get(f"{url}/api/projects", timeout=10).raise_for_status().json()
    return [p for p in projects if p["name"] == name]


def test_two_runs_make_two_reports_and_one_panel(
    evidently_ui: str, sqlite_url: str, tmp_path: Path
) -> None:
    url = evidently_ui
    # Another project exists already: reports must not land there.
    httpx.post(f"{url}/api/v2/projects", json={"name": "someone-else", "version": "2"}, timeout=10
               ).raise_for_status()
    seeded = seed_target(sqlite_url, "flipper", [(48, good), (48, inverted), (48, good)])
    settings = settings_for(sqlite_url, tmp_path, evidently_url=url, evidently_project=PROJECT)
    (result,) = run_drift(sqlite_url, target_name=seeded.target, settings=settings, since=T0, now=T0 + 9 * H)
    assert [c.report.pushed for c in result.changes if c.report] == [True, True]
    # a rerun reuses the stored reports: nothing new reaches the UI
    (again,) = run_drift(sqlite_url, target_name=seeded.target, settings=settings, since=T0, now=T0 + 9 * H)
    assert [c.report.pushed for c in again.changes if c.report] == [None, None]

    (project,) = _projects(url, PROJECT)
    reports = httpx.get(f"{url}/api/projects/{project['id']}/reports", timeout=10).raise_for_status().json()
    assert len(reports) == 2
    assert all(r["name"].startswith(seeded.target) for r in reports)
    dashboard = httpx.get(f"{url}/api/v2/dashboards/{project['id']}", timeout=10).raise_for_status().json()
    panels = dashboard["panels"]
    assert len(panels) == 1
    (panel,) = panels
    assert panel["title"] == MODEL_CHANGE_PANEL_TITLE
    assert panel["size"] == "full" and panel["plot_params"]["plot_type"] == "line"
    assert panel["values"][0]["metric"] == "evidently:metric_v2:ValueDrift"
    assert panel["values"][0]["metric_labels"] == {"column": "probability"}
    assert sum(len(tab["panels"]) for tab in dashboard["tabs"]) == 1
    (other,) = _projects(url, "someone-else")
    assert httpx.get(f"{url}/api/projects/{other['id']}/reports", timeout=10).json() == []


def test_unreachable_ui_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A cheap numeric-only snapshot: the push path must not care what the report holds."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    frame = pd.DataFrame({"probability": [i / 40 for i in range(40)]})
    data = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=["probability"]))
    snapshot = Report([DataDriftPreset()]).run(current_data=data, reference_data=data)
    pusher = EvidentlyPusher(f"http://127.0.0.1:{free_port()}", PROJECT)
    assert pusher.push(snapshot, run_name="x") is False
    assert any("event=evidently_push_failed" in r.getMessage() for r in caplog.records)


def test_change_line_says_when_not_pushed() -> None:
    change = ModelChange(at=T0, samples=24, share_changed=1.0, mean_abs_delta=0.4, before={}, after={},
                         before_from=T0 - H, after_to=T0 + H)
    result = ChangeResult(change, 0.91, None, ReportRef(7, "/x/r.html", False))
    assert result.line("team") == (
        "team: model changed at 2026-11-20T12:00:00.000Z: 24 samples re-asked, 100 % answer differently, "
        "mean |Δp| 0.400, AUC 0.910 → n/a; report /x/r.html; not pushed to the Evidently UI (see the log)"
    )
