"""Drift: the model changes found in each target's answers, and the Evidently report of each; then the
reference service's traffic against its training data (``clfwatch drift run --traffic``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui
from drift.reports import KIND_P_VALUE, REPORT_KIND, change_rows
from drift.traffic import TRAFFIC_KIND, traffic_rows
from storage.drift import DriftReportView, list_drift_reports
from storage.engine import session_scope

DRIFT_TTL_S = 30
HTML_TTL_S = 300
REPORTS_LIMIT = 500
HTML_HEIGHT_PX = 900
NO_REPORT_TEXT = (
    "No model change found yet: run `clfwatch drift run`, or recompute drift on the Admin page. "
    "A change shows here once most re-asked samples of a target answer differently."
)
NO_TRAFFIC_TEXT = (
    "No traffic report yet: run `clfwatch drift run --traffic` once the reference service has "
    "answered at least 100 requests."
)


@st.cache_data(ttl=DRIFT_TTL_S, show_spinner=False)
def load_reports(url: str) -> list[DriftReportView]:
    with session_scope(url) as session:
        return list_drift_reports(session, limit=REPORTS_LIMIT)


@st.cache_data(ttl=HTML_TTL_S, max_entries=2, show_spinner=False)
def load_html(path: str) -> str | None:
    file = Path(path)
    return file.read_text(encoding="utf-8") if file.is_file() else None


def column_table(summary: dict[str, Any]) -> None:
    """Every column's verdict of one report: method, score, threshold and which way is drift."""
    rows = pd.DataFrame(
        [
            {
                "column": column,
                "method": value.get("method", ""),
                "direction": "lower = drift" if value.get("kind") == KIND_P_VALUE else "higher = drift",
                "score": f"{float(value.get('score', float('nan'))):.3g}",
                "threshold": f"{float(value.get('threshold', float('nan'))):g}",
                "drifted": bool(value.get("drifted")),
            }
            for column, value in (summary.get("columns") or {}).items()
        ]
    )
    if not rows.empty:
        st.dataframe(rows, hide_index=True, width="stretch")


def show_html(report: DriftReportView, key: str) -> None:
    """The stored Evidently HTML of one report, with its download; a line when the file is gone."""
    html = load_html(report.html_path or "")
    if html is None:
        st.info("The HTML file of this report is no longer on disk; run the drift report again.")
        return
    st.download_button(
        "Download the HTML report", data=html, file_name=Path(report.html_path or "drift.html").name,
        mime="text/html", key=f"{key}_download",
    )
    st.iframe(html, height=HTML_HEIGHT_PX)  # our own Evidently file, never user-supplied HTML


def model_change_section(reports: list[DriftReportView]) -> None:
    st.subheader("Model changes")
    if not reports:
        st.info(NO_REPORT_TEXT)
        return
    st.dataframe(pd.DataFrame(change_rows(reports)), hide_index=True, width="stretch")
    names = sorted({r.target_name for r in reports if r.target_name})
    if not names:
        return
    target = st.selectbox("Target", names, key="drift_target")
    own = [r for r in reports if r.target_name == target]
    st.subheader("Evidently report")
    with_html = [r for r in own if r.html_path]
    if not with_html:
        st.info("This target has no HTML report on disk: older ones are pruned, failed ones have none.")
        return
    labels = {f"change at {ui.time_text(r.current_from)} · report {r.id}": r for r in with_html}
    chosen = labels[st.selectbox("Model change", list(labels), key="drift_report")]
    if chosen.html_path and load_html(chosen.html_path) is not None:
        column_table(chosen.summary)
    show_html(chosen, "drift")


def traffic_section(reports: list[DriftReportView]) -> None:
    st.subheader("Reference service traffic vs training data")
    st.caption(
        "The last texts the reference service was asked to classify against the texts it was "
        "trained on (train.csv), through Evidently's data drift preset: the text itself, its length "
        "and whether it names a bot. The text drift score is a classifier's: higher = drift."
    )
    if not reports:
        st.info(NO_TRAFFIC_TEXT)
        return
    st.dataframe(pd.DataFrame(traffic_rows(reports)), hide_index=True, width="stretch")
    with_html = [r for r in reports if r.html_path]
    if not with_html:
        st.caption("No HTML report on disk: older ones are pruned.")
        return
    labels = {f"run at {ui.time_text(r.created_at)} · report {r.id}": r for r in with_html}
    chosen = labels[st.selectbox("Traffic report", list(labels), key="traffic_report")]
    with st.expander(f"Evidently report of the traffic run at {ui.time_text(chosen.created_at)}"):
        column_table(chosen.summary)
        show_html(chosen, "traffic")


st.title("Drift")
st.caption(
    "The prober asks every target the same evaluation samples again and again. When, from some "
    "time on, most of them get a different probability than the last time, the model (or its "
    "preprocessing) changed. Each change has an Evidently report: the probabilities just before "
    "and just after, on the same samples. Labels only ever become an AUC."
)
settings = ui.page_settings()
if settings is None:
    st.stop()

try:
    stored = load_reports(settings.database_url)
except Exception as exc:  # noqa: BLE001 - shown as a short message, details in the log
    ui.show_error(exc)
    st.stop()

if settings.evidently_url:
    st.caption(
        f"Each report is also pushed to the Evidently UI, project “{settings.evidently_project}”: "
        f"{settings.evidently_url}"
    )
model_change_section([r for r in stored if r.summary.get("kind") == REPORT_KIND])
traffic_section([r for r in stored if r.summary.get("kind") == TRAFFIC_KIND])
