"""Drift reports pushed to a real Evidently UI service on loopback (telemetry off)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drift.reports import (
    TEXT_DRIFT_PANEL_TITLE,
    ColumnDrift,
    DriftSummary,
    DriftWindows,
    EvidentlyPusher,
    run_drift,
)
from tests.conftest import free_port
from tests.drift.test_reports import T0, seed_drifting_target, settings_for
from tests.servers import process

EVIDENTLY_BIN = Path(sys.executable).parent / "evidently"
PROJECT = "clfwatch-drift-test"
UI_READY_TIMEOUT_S = 90.0


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
    seeded = seed_drifting_target(sqlite_url, rows_per_window=60)
    settings = settings_for(sqlite_url, evidently_url=url, evidently_project=PROJECT)
    for _ in range(2):
        (summary,) = run_drift(sqlite_url, target_name=seeded.target, settings=settings,
                               html_dir=tmp_path / "drift", now=T0)
        assert summary.error is None and summary.pushed is True

    (project,) = _projects(url, PROJECT)
    reports = httpx.get(f"{url}/api/projects/{project['id']}/reports", timeout=10).raise_for_status().json()
    assert len(reports) == 2
    assert all(r["name"].startswith(seeded.target) for r in reports)
    dashboard = httpx.get(f"{url}/api/v2/dashboards/{project['id']}", timeout=10).raise_for_status().json()
    panels = dashboard["panels"]
    assert len(panels) == 1
    (panel,) = panels
    assert panel["title"] == TEXT_DRIFT_PANEL_TITLE
    assert panel["size"] == "full" and panel["plot_params"]["plot_type"] == "line"
    assert panel["values"][0]["metric"] == "evidently:metric_v2:ValueDrift"
    assert panel["values"][0]["metric_labels"] == {"column": "text"}
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


def test_summary_line_says_when_not_pushed() -> None:
    windows = DriftWindows(T0, T0, T0, T0)
    column = ColumnDrift("text", "Percentile text content drift", "score", 0.99, 0.95, True)
    summary = DriftSummary("team", 1, 7, windows, 50, 50, (column,), None, "/x/r.html", False)
    assert summary.line() == (
        "team: 1 of 1 columns drifted; text score=0.99 (drift); report /x/r.html; "
        "not pushed to the Evidently UI (see the log)"
    )
