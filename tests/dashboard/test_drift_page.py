"""The drift page: the stored model changes of every target and the Evidently report of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from drift.model_changes import ModelChange
from drift.reports import REPORT_KIND, ChangeResult, compute_change_report, iso_utc
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
        "A change shows here once most re-asked samples of a target answer differently."
    ]
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
