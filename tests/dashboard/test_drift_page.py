"""The Drift page on a seeded database (SQLite and Postgres), with a real Evidently report."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from drift.reports import (
    NOT_ENOUGH_TEXT_MESSAGE,
    TEXT_COLUMN,
    DriftSummary,
    DriftWindows,
    compute_drift,
)
from storage.drift import add_drift_report
from storage.engine import session_scope
from storage.targets import get_target
from tests.dashboard.conftest import APP_TIMEOUT_S, REPO_ROOT, SeededDashboard, clear_dashboard_caches
from tests.drift.test_reports import CHATTY, SPAMMY, varied_texts

PAGE = str(REPO_ROOT / "dashboard" / "app_pages" / "drift.py")


def _page_text(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "subheader", "caption", "info", "markdown", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    for frame in at.dataframe:
        parts.append(frame.value.to_csv())
    return "\n".join(parts)


def _old_report(url: str, target: str, summary: dict[str, object], age: timedelta, now: datetime) -> None:
    with session_scope(url) as session:
        target_id = get_target(session, target).id
        at = now - age
        add_drift_report(session, target_id=target_id, reference_from=at - timedelta(hours=48),
                         reference_to=at - timedelta(hours=24), current_from=at - timedelta(hours=24),
                         current_to=at, summary=summary, created_at=at)


@pytest.fixture(scope="module")
def evidently_report(tmp_path_factory: pytest.TempPathFactory) -> DriftSummary:
    """A real Evidently report (summary and HTML file) of a drifting window pair."""
    rng = random.Random(5)
    reference = pd.DataFrame({"text": varied_texts(rng, CHATTY, 60, 3, 12),
                              "probability": [rng.uniform(0, 0.4) for _ in range(60)]})
    current = pd.DataFrame({"text": varied_texts(rng, SPAMMY, 60, 8, 25),
                            "probability": [rng.uniform(0.6, 1) for _ in range(60)]})
    snapshot, columns = compute_drift(reference, current)
    html = tmp_path_factory.mktemp("drift") / "report.html"
    snapshot.save_html(str(html))
    now = datetime.now(UTC)
    return DriftSummary("alpha-team", 0, 0, DriftWindows(now, now, now, now), 60, 60, tuple(columns),
                        None, str(html), None)


def test_drift_page_shows_latest_history_and_report(
    dashboard_env: SeededDashboard, evidently_report: DriftSummary
) -> None:
    seeded = dashboard_env
    url = seeded.url
    # Two older computed reports of the healthy target, an older failure of the down one.
    for hours, text_score, p in ((48, 0.40, 0.6), (24, 0.97, 0.001)):
        _old_report(url, seeded.healthy, {
            "columns": {
                "text": {"method": "Percentile text content drift", "kind": "score", "score": text_score,
                         "threshold": 0.95, "drifted": text_score > 0.95},
                "probability": {"method": "K-S p_value", "kind": "p_value", "score": p,
                                "threshold": 0.05, "drifted": p < 0.05},
            },
            "reference_rows": 100, "current_rows": 100, "drifted_columns": int(p < 0.05),
        }, timedelta(hours=hours), seeded.now)
    _old_report(url, seeded.down, {"error": NOT_ENOUGH_TEXT_MESSAGE, "reference_rows": 3, "current_rows": 2},
                timedelta(hours=1), seeded.now)
    # The newest report of the healthy target: a real Evidently report, computed once per module.
    summary = evidently_report
    with session_scope(url) as session:
        report_id = add_drift_report(
            session, target_id=get_target(session, seeded.healthy).id,
            reference_from=seeded.now - timedelta(hours=48), reference_to=seeded.now - timedelta(hours=24),
            current_from=seeded.now - timedelta(hours=24), current_to=seeded.now,
            summary=summary.summary_dict(), html_path=summary.html_path, created_at=seeded.now,
        )

    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    text = _page_text(at)
    assert at.title[0].value == "Drift"
    latest = at.dataframe[0].value
    assert list(latest["target"]) == [seeded.healthy, seeded.down]  # one row per target: the newest
    assert latest.iloc[1]["result"] == NOT_ENOUGH_TEXT_MESSAGE
    assert latest.iloc[0]["rows (ref / cur)"] == f"{summary.reference_rows} / {summary.current_rows}"
    text_verdict = {c.column: c for c in summary.columns}[TEXT_COLUMN]
    assert latest.iloc[0]["text (drift score)"].startswith(f"{text_verdict.score:.3g}")
    # drift over time: scores and p-values on separate charts
    assert at.selectbox(key="drift_target").value == seeded.healthy
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    titles = " ".join(str(c.proto.spec) for c in charts)
    assert "Text drift score (higher = drift)" in titles and "lower = drift" in titles
    # the report itself: a download and the embedded HTML of the newest run
    assert str(at.selectbox(key="drift_report").value).endswith(f"report {report_id}")
    assert len(at.get("download_button")) == 1
    assert len(at.get("iframe")) == 1
    # never a token, a label or a traceback
    assert seeded.token not in text and "Traceback" not in text
    assert not any(sample_id in text for sample_id in seeded.sample_ids)

    # the failing target: its error, no charts, no report
    at.selectbox(key="drift_target").set_value(seeded.down).run()
    assert not at.exception
    assert any("No report of this target could be computed" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 0 and len(at.get("iframe")) == 0


def test_drift_page_without_reports_says_how(dashboard_env: SeededDashboard) -> None:
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        "No drift report yet: run `clfwatch drift run`, or recompute drift on the Admin page."
    ]
    assert len(at.dataframe) == 0


def test_drift_page_with_a_vanished_html_file(dashboard_env: SeededDashboard, tmp_path: Path) -> None:
    seeded = dashboard_env
    with session_scope(seeded.url) as session:
        target_id = get_target(session, seeded.healthy).id
        add_drift_report(
            session, target_id=target_id, reference_from=seeded.now - timedelta(hours=48),
            reference_to=seeded.now - timedelta(hours=24), current_from=seeded.now - timedelta(hours=24),
            current_to=seeded.now,
            summary={"columns": {"text": {"method": "m", "kind": "score", "score": 0.5, "threshold": 0.95,
                                          "drifted": False}}},
            html_path=str(tmp_path / "gone.html"),
        )
    clear_dashboard_caches()
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    assert any("no longer on disk" in i.value for i in at.info)


@pytest.mark.parametrize("evidently_url", ["http://127.0.0.1:8502"])
def test_drift_page_names_the_evidently_project(
    dashboard_env: SeededDashboard, monkeypatch: pytest.MonkeyPatch, evidently_url: str
) -> None:
    monkeypatch.setenv("CLFWATCH_EVIDENTLY_URL", evidently_url)
    clear_dashboard_caches()
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    assert any(evidently_url in c.value and "clfwatch-drift" in c.value for c in at.caption)
