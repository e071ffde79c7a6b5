"""Model changes on the pages: the board's "model changed 2 h ago" and the team charts' markers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import pytest

from dashboard.model_changes import changed_text, mark_model_changes
from tests.dashboard.apptest import open_page
from tests.dashboard.conftest import SeededDashboard, clear_dashboard_caches
from tests.dashboard.test_drift_page import _change, _store_change

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ages", "expected"),
    [
        ([], ""),
        (None, ""),
        ([timedelta(minutes=12)], "model changed 12 min ago"),
        ([timedelta(hours=5), timedelta(hours=2, minutes=30)], "model changed 2 h ago"),
        ([timedelta(hours=25)], ""),  # history, not news
    ],
)
def test_changed_text(ages: list[timedelta] | None, expected: str) -> None:
    times = None if ages is None else [NOW - a for a in ages]
    assert changed_text(times, NOW) == expected


def test_markers_only_inside_the_window() -> None:
    figure = go.Figure()
    inside, outside = NOW - timedelta(hours=1), NOW - timedelta(days=3)
    mark_model_changes(figure, [outside, inside], NOW - timedelta(hours=6), NOW)
    assert len(figure.layout.shapes) == 1 and [t.name for t in figure.data] == ["model change"]
    empty = go.Figure()
    mark_model_changes(empty, [outside], NOW - timedelta(hours=6), NOW)
    assert len(empty.layout.shapes) == 0 and len(empty.data) == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_scoreboard_says_model_changed(dashboard_env: SeededDashboard) -> None:
    _store_change(dashboard_env.url, dashboard_env.healthy, _change(datetime.now(UTC) - timedelta(hours=2)),
                  html_path=None)
    clear_dashboard_caches()
    at = open_page()
    assert not at.exception
    table = at.table[0].value  # the board, beside the measures grid
    models = dict(zip(table["target"], table["model"], strict=True))
    assert models[dashboard_env.healthy] == "model changed 2 h ago"
    assert {v for k, v in models.items() if k != dashboard_env.healthy} == {""}
