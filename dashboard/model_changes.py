"""Model changes on the pages: markers on a team's charts, "model changed 2 h ago" on the board.

Read from the stored model-change reports (``clfwatch drift run``), not recomputed per page
view: the detector streams a week of probes, the reports table holds a handful of rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from drift.reports import REPORT_KIND
from storage.drift import list_drift_reports
from storage.engine import session_scope

CHANGES_TTL_S = 30
REPORTS_LIMIT = 2_000
# The board mentions a change this recent; older ones are history, seen on the team page.
RECENT_CHANGE = timedelta(hours=24)
MARKER_COLOUR = "rgba(148, 103, 189, 0.9)"


@st.cache_data(ttl=CHANGES_TTL_S, show_spinner=False)
def model_change_times(url: str) -> dict[str, list[datetime]]:
    """Target name -> its model-change times (aware UTC), oldest first; targets without any are absent."""
    with session_scope(url) as session:
        reports = list_drift_reports(session, limit=REPORTS_LIMIT)
    times: dict[str, set[datetime]] = {}
    for report in reports:
        at = (report.summary.get(REPORT_KIND) or {}).get("at")
        if report.summary.get("kind") == REPORT_KIND and at and report.target_name:
            times.setdefault(report.target_name, set()).add(datetime.fromisoformat(at).astimezone(UTC))
    return {name: sorted(ats) for name, ats in times.items()}


def changed_text(times: list[datetime] | None, now: datetime) -> str:
    """``model changed 2 h ago`` for a change within RECENT_CHANGE, else empty."""
    if not times or now - times[-1] > RECENT_CHANGE:
        return ""
    seconds = max((now - times[-1]).total_seconds(), 0.0)
    if seconds < 3600:
        return f"model changed {int(seconds // 60)} min ago"
    return f"model changed {int(seconds // 3600)} h ago"


def mark_model_changes(figure: Any, times: list[datetime] | None, start: datetime, end: datetime) -> None:
    """A dashed vertical line per model change inside ``[start, end]`` on a Plotly figure."""
    for at in times or []:
        if start <= at <= end:
            figure.add_vline(x=at, line_dash="dash", line_color=MARKER_COLOUR, line_width=1)
    if any(start <= at <= end for at in times or []):
        figure.add_scatter(x=[None], y=[None], mode="lines", name="model change",
                           line={"dash": "dash", "color": MARKER_COLOUR})
