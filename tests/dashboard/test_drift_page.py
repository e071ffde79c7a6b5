"""The drift page: the stored model changes of every target and the Evidently report of each, and the
reference service's traffic reports (``drift run --traffic``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from drift.model_changes import ModelChange
from drift.reports import (
    KIND_P_VALUE,
    KIND_SCORE,
    REPORT_KIND,
    ChangeResult,
    ColumnDrift,
    compute_change_report,
    iso_utc,
)
from drift.traffic import TRAFFIC_KIND, TextDriftSummary
from storage.drift import add_drift_report
from storage.engine import session_scope
from storage.targets import get_target
from tests.dashboard.conftest import APP_TIMEOUT_S, REPO_ROOT, SeededDashboard, clear_dashboard_caches

PAGE = str(REPO_ROOT / "dashboard" / "app_pages" / "drift.py")


def _page_text(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "subheader", "caption", "info", "markdown", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    for frame in at.dataframe:
        parts.append(frame.value.to_csv())
    return "\n".join(parts)


def _change(at: datetime, n: int = 24) -> ModelChange:
    ids = [f"x{i:02d}" for i in range(n)]
    return ModelChange(at=at, samples=n, share_changed=1.0, mean_abs_delta=0.5,
                       before={s: i / n for i, s in enumerate(ids)},
                       after={s: 0.9 + 0.1 * i / n for i, s in enumerate(ids)},
                       before_from=at - timedelta(minutes=5), after_to=at + timedelta(minutes=5))


def _store_change(url: str, target: str, change: ModelChange, *, html_path: str | None,
                  columns: dict[str, object] | None = None) -> int:
    numbers = ChangeResult(change, 0.9, 0.5, None).to_dict()
    summary: dict[str, object] = {"kind": REPORT_KIND, REPORT_KIND: numbers, "columns": columns or {}}
    with session_scope(url) as session:
        return add_drift_report(
            session, target_id=get_target(session, target).id, reference_from=change.before_from,
            reference_to=change.at, current_from=change.at, current_to=change.after_to,
            summary=summary, html_path=html_path, created_at=change.after_to,
        )


@pytest.fixture(scope="module")
def evidently_html(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    """A real Evidently report of one model change (HTML file and its column verdicts)."""
    snapshot, columns = compute_change_report(_change(datetime.now(UTC)))
    html = tmp_path_factory.mktemp("drift") / "report.html"
    snapshot.save_html(str(html))
    return str(html), {c.column: c.to_dict() for c in columns}


def test_drift_page_lists_changes_and_shows_the_report(
    dashboard_env: SeededDashboard, evidently_html: tuple[str, dict[str, object]]
) -> None:
    seeded = dashboard_env
    url = seeded.url
    html, columns = evidently_html
    older = _change(seeded.now - timedelta(hours=30))
    _store_change(url, seeded.healthy, older, html_path=None)
    newest = _change(seeded.now - timedelta(hours=2))
    report_id = _store_change(url, seeded.healthy, newest, html_path=html, columns=columns)
    _store_change(url, seeded.slow, _change(seeded.now - timedelta(hours=5)), html_path=None)
    # a report of the old window comparison: said nothing about models, not listed
    with session_scope(url) as session:
        add_drift_report(session, target_id=get_target(session, seeded.down).id, reference_from=seeded.now,
                         reference_to=seeded.now, current_from=seeded.now, current_to=seeded.now,
                         summary={"columns": {"text": {"score": 0.5}}}, created_at=seeded.now)

    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    text = _page_text(at)
    assert at.title[0].value == "Drift"
    changes = at.dataframe[0].value
    assert list(changes["target"]) == [seeded.healthy, seeded.slow, seeded.healthy]  # newest first
    assert changes.iloc[0]["changed at"] == f"{newest.at:%Y-%m-%d %H:%M:%S} UTC"
    assert changes.iloc[0]["AUC before → after"] == "0.900 → 0.500"
    assert seeded.down not in set(changes["target"])
    assert iso_utc(newest.at)  # the stored key the CLI reuses
    assert at.selectbox(key="drift_target").value == seeded.healthy
    assert str(at.selectbox(key="drift_report").value).endswith(f"report {report_id}")
    assert len(at.get("download_button")) == 1 and len(at.get("iframe")) == 1
    # never a token, a sample id or a traceback
    assert seeded.token not in text and "Traceback" not in text
    assert not any(sample_id in text for sample_id in seeded.sample_ids)

    at.selectbox(key="drift_target").set_value(seeded.slow).run()
    assert not at.exception
    assert any("no HTML report on disk" in i.value for i in at.info)
    assert len(at.get("iframe")) == 0


def test_drift_page_without_reports_says_how(dashboard_env: SeededDashboard) -> None:
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        "No model change found yet: run `clfwatch drift run`, or recompute drift on the Admin page. "
        "A change shows here once most re-asked samples of a target answer differently.",
        "No traffic report yet: run `clfwatch drift run --traffic` once the reference service has "
        "answered at least 100 requests.",
    ]
    assert [s.value for s in at.subheader] == ["Model changes", "Reference service traffic vs training data"]
    assert len(at.dataframe) == 0


def test_drift_page_with_a_vanished_html_file(dashboard_env: SeededDashboard, tmp_path: Path) -> None:
    seeded = dashboard_env
    _store_change(seeded.url, seeded.healthy, _change(seeded.now - timedelta(hours=1)),
                  html_path=str(tmp_path / "gone.html"))
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


def _store_traffic(url: str, at: datetime, *, current: int, reference: int, text_score: float,
                   html_path: str | None) -> int:
    """A traffic report stored as ``drift run --traffic`` stores it: no target, kind "traffic"."""
    columns = (
        ColumnDrift("text", "text content drift", KIND_SCORE, text_score, 0.95, text_score >= 0.95),
        ColumnDrift("text_length", "K-S p_value", KIND_P_VALUE, 0.012, 0.05, True),
        ColumnDrift("mentions_bot", "Z-test p_value", KIND_P_VALUE, 0.61, 0.05, False),
    )
    drifted = sum(c.drifted for c in columns)
    summary = TextDriftSummary(reference, current, columns, drifted, drifted / len(columns))
    with session_scope(url) as session:
        return add_drift_report(
            session, target_id=None,
            reference_from=at - timedelta(days=30), reference_to=at - timedelta(days=30),
            current_from=at - timedelta(hours=3), current_to=at - timedelta(minutes=1),
            summary={"kind": TRAFFIC_KIND, TRAFFIC_KIND: summary.to_dict(),
                     "columns": {c.column: c.to_dict() for c in columns}},
            html_path=html_path, created_at=at,
        )


def _traffic_table(at: AppTest):  # type: ignore[no-untyped-def]
    tables = [f.value for f in at.dataframe if "traffic texts" in f.value.columns]
    assert len(tables) == 1, [list(f.value.columns) for f in at.dataframe]
    return tables[0]


def test_drift_page_shows_traffic_reports_without_any_model_change(
    dashboard_env: SeededDashboard, evidently_html: tuple[str, dict[str, object]]
) -> None:
    seeded = dashboard_env
    html, _ = evidently_html
    older = seeded.now - timedelta(days=1)
    newest = seeded.now - timedelta(minutes=20)
    _store_traffic(seeded.url, older, current=120, reference=4852, text_score=0.981, html_path=None)
    newest_id = _store_traffic(seeded.url, newest, current=1000, reference=4852, text_score=0.7234,
                               html_path=html)

    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    # no model change yet: that section says so, the traffic section still shows its reports
    assert [i.value for i in at.info] == [
        "No model change found yet: run `clfwatch drift run`, or recompute drift on the Admin page. "
        "A change shows here once most re-asked samples of a target answer differently."
    ]
    assert "Reference service traffic vs training data" in [s.value for s in at.subheader]
    table = _traffic_table(at)
    assert table.to_dict("records") == [  # newest first
        {"run at": f"{newest:%Y-%m-%d %H:%M} UTC", "traffic texts": 1000, "training texts": 4852,
         "text drift score": "0.723 (no drift, threshold 0.95)", "drifted columns": "1 of 3 (33 %)"},
        {"run at": f"{older:%Y-%m-%d %H:%M} UTC", "traffic texts": 120, "training texts": 4852,
         "text drift score": "0.981 (drift, threshold 0.95)", "drifted columns": "2 of 3 (67 %)"},
    ]
    # the newest report with HTML, in a collapsed expander: its columns, the download, the page itself
    assert str(at.selectbox(key="traffic_report").value).endswith(f"report {newest_id}")
    [expander] = at.expander
    assert expander.label == f"Evidently report of the traffic run at {newest:%Y-%m-%d %H:%M} UTC"
    assert len(expander.get("iframe")) == 1 and len(expander.get("download_button")) == 1
    columns = expander.dataframe[0].value
    assert list(columns["column"]) == ["text", "text_length", "mentions_bot"]
    assert list(columns["drifted"]) == [False, True, False]


def test_drift_page_with_model_changes_and_no_traffic_report_says_how(
    dashboard_env: SeededDashboard, evidently_html: tuple[str, dict[str, object]]
) -> None:
    seeded = dashboard_env
    html, columns = evidently_html
    _store_change(seeded.url, seeded.healthy, _change(seeded.now - timedelta(hours=2)), html_path=html,
                  columns=columns)
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        "No traffic report yet: run `clfwatch drift run --traffic` once the reference service has "
        "answered at least 100 requests."
    ]
    assert len(at.get("iframe")) == 1 and len(at.expander) == 0
    assert not any("traffic texts" in f.value.columns for f in at.dataframe)
