"""Drift: the newest Evidently summary per target, drift over time, and the full HTML report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import ui
from drift.reports import (
    DEFAULT_CURRENT_HOURS,
    DEFAULT_REFERENCE_HOURS,
    KIND_P_VALUE,
    KIND_SCORE,
    drift_history_frame,
    latest_table,
)
from storage.drift import DriftReportView, list_drift_reports
from storage.engine import session_scope

DRIFT_TTL_S = 30
HTML_TTL_S = 300
REPORTS_LIMIT = 500
HTML_HEIGHT_PX = 900
# p-values reach 0.0; a log axis cannot show that, so they are drawn at this floor.
P_VALUE_FLOOR = 1e-16
NO_REPORT_TEXT = "No drift report yet: run `clfwatch drift run`, or recompute drift on the Admin page."


@st.cache_data(ttl=DRIFT_TTL_S, show_spinner=False)
def load_reports(url: str) -> list[DriftReportView]:
    with session_scope(url) as session:
        return list_drift_reports(session, limit=REPORTS_LIMIT)


@st.cache_data(ttl=HTML_TTL_S, max_entries=2, show_spinner=False)
def load_html(path: str) -> str | None:
    file = Path(path)
    return file.read_text(encoding="utf-8") if file.is_file() else None


st.title("Drift")
st.caption(
    "Evidently compares what each target was sent (the text, its length, whether it says the word "
    f"bot/бот) and what it answered (the probability): the first {DEFAULT_REFERENCE_HOURS:g} h of its "
    f"probes against the last {DEFAULT_CURRENT_HOURS:g} h. Labels are never used."
)
settings = ui.page_settings()
if settings is None:
    st.stop()

try:
    reports = load_reports(settings.database_url)
except Exception as exc:  # noqa: BLE001 - shown as a short message, details in the log
    ui.show_error(exc)
    st.stop()

if settings.evidently_url:
    st.caption(
        f"Each report is also pushed to the Evidently UI, project “{settings.evidently_project}”: "
        f"{settings.evidently_url}"
    )
if not reports:
    st.info(NO_REPORT_TEXT)
    st.stop()

st.subheader("Latest report per target")
st.dataframe(latest_table(reports), hide_index=True, width="stretch")

names = sorted({r.target_name for r in reports if r.target_name})
if not names:
    st.stop()
target = st.selectbox("Target", names, key="drift_target")
own = [r for r in reports if r.target_name == target]
history = drift_history_frame(own)

st.subheader("Drift over time")
if history.empty:
    st.info("No report of this target could be computed yet; see the result column above.")
else:
    scores = history[history["kind"] == KIND_SCORE]
    p_values = history[history["kind"] == KIND_P_VALUE].copy()
    left, right = st.columns(2)
    with left:
        if scores.empty:
            st.caption("No drift-score column in these reports.")
        else:
            fig = px.line(scores, x="created_at", y="score", color="column", markers=True,
                          title="Text drift score (higher = drift)",
                          labels={"created_at": "computed at", "score": "drift score"})
            for threshold in sorted(set(scores["threshold"].dropna())):
                fig.add_hline(y=threshold, line_dash="dash", annotation_text=f"threshold {threshold:g}")
            fig.update_yaxes(range=[0, 1.05])
            ui.time_axis(fig, list(scores["created_at"]))
            st.plotly_chart(fig, width="stretch")
    with right:
        if p_values.empty:
            st.caption("No p-value column in these reports.")
        else:
            p_values["p-value"] = p_values["score"].clip(lower=P_VALUE_FLOOR)
            fig = px.line(p_values, x="created_at", y="p-value", color="column", markers=True, log_y=True,
                          title="p-values of length, bot word, probability (lower = drift)",
                          labels={"created_at": "computed at"})
            for threshold in sorted(set(p_values["threshold"].dropna())):
                fig.add_hline(y=threshold, line_dash="dash", annotation_text=f"threshold {threshold:g}")
            ui.time_axis(fig, list(p_values["created_at"]))
            st.plotly_chart(fig, width="stretch")
            st.caption(f"p-values below {P_VALUE_FLOOR:g} are drawn at {P_VALUE_FLOOR:g}.")

st.subheader("Evidently report")
with_html = [r for r in own if r.html_path]
if not with_html:
    st.info("This target has no HTML report yet: reports without enough data have none.")
    st.stop()
labels = {f"{ui.time_text(r.created_at)} · report {r.id}": r for r in with_html}
chosen = labels[st.selectbox("Report computed at", list(labels), key="drift_report")]
html = load_html(chosen.html_path or "")
if html is None:
    st.info("The HTML file of this report is no longer on disk; run the drift report again.")
    st.stop()
st.download_button(
    "Download the HTML report", data=html, file_name=Path(chosen.html_path or "drift.html").name,
    mime="text/html", key="drift_download",
)
summary_rows = pd.DataFrame(
    [
        {
            "column": column,
            "method": value.get("method", ""),
            "direction": "lower = drift" if value.get("kind") == KIND_P_VALUE else "higher = drift",
            "score": f"{float(value.get('score', float('nan'))):.3g}",
            "threshold": f"{float(value.get('threshold', float('nan'))):g}",
            "drifted": bool(value.get("drifted")),
        }
        for column, value in (chosen.summary.get("columns") or {}).items()
    ]
)
if not summary_rows.empty:
    st.dataframe(summary_rows, hide_index=True, width="stretch")
st.iframe(html, height=HTML_HEIGHT_PX)  # our own Evidently file, never user-supplied HTML
