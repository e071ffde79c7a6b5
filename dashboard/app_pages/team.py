"""Team: one target's latency, uptime, 200-rate, recent failures, ROC curve, AUC coverage and the why
of its grade."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from alerts.messages import duration_text
from dashboard import data, model_changes, ui

WINDOW_LABELS = {24: "last 24 h", 72: "last 3 days", 168: "last 7 days"}
GAP_COLOUR = "rgba(128, 128, 128, 0.25)"
CHART_HEIGHT = 300
LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0}

st.title("Team")
settings = ui.page_settings()
if settings is None:
    st.stop()
url = settings.database_url

try:
    names = data.target_names(url)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()
if not names:
    st.info("No targets registered yet.")
    st.stop()

wanted = st.query_params.get("target")
c1, c2 = st.columns([2, 1])
name = c1.selectbox("Target", names, index=names.index(wanted) if wanted in names else 0, key="team_target")
window_h = c2.radio("Window", list(WINDOW_LABELS), format_func=WINDOW_LABELS.get, horizontal=True,
                    key="team_window")
st.query_params["target"] = name

try:
    team = data.team_view(url, name, window_h)
    board = data.scoreboard_view(url)
    incidents = data.incident_rows(url, name)
    changes = model_changes.model_change_times(url).get(name)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()

row: dict[str, Any] = next((r for r in board["rows"] if r["target"] == name), {})
st.subheader(ui.plain(name))  # a team's chosen name: shown as typed, never as markdown
now = datetime.now(UTC)
for incident in (i for i in incidents if i["resolved_at"] is None):
    st.error(f"Incident: {incident['kind']} probes failing, {data.down_text(incident['started_at'], now)} "
             f"(since {ui.time_text(incident['started_at'])}; {incident['reason']}).")
if row:
    cols = st.columns(6)
    cols[0].metric("Rank", row["rank"])
    cols[1].metric("Total", f"{row['total']:.3f}")
    cols[2].metric("Status", row["status"])
    cols[3].metric("Multiplier", f"{row['multiplier']:.3f}")
    cols[4].metric("Stress", f"{row['stress_points']}/10" if row["stress_points"] is not None else "—")
    cols[5].metric("AUC (latest answers)", f"{team['roc']['auc']:.3f}" if team["roc"]["auc"] is not None
                   else "—")
    # Coverage and the rules that zeroed a component: reasons are clfwatch's own words, no team input.
    reasons = board["reasons"].get(name, {})
    if row.get("auc_coverage") is not None:
        st.caption(f"AUC coverage: {100 * row['auc_coverage']:.1f} % of the evaluation set answered "
                   f"validly (the latest valid answer per sample counts) · AUC: {reasons.get('auc', '')}")
    for key, why in row.get("ruled_zero", {}).items():
        st.warning(f"{data.COMPONENT_LABELS[key]}: 0 points — {why}")


def shade_gaps(figure: go.Figure) -> None:
    for start, end in team["gaps"]:
        figure.add_vrect(x0=start, x1=end, fillcolor=GAP_COLOUR, line_width=0, layer="below")


def layout(figure: go.Figure, title: str, y_title: str) -> go.Figure:
    figure.update_layout(title=title, height=CHART_HEIGHT, margin={"t": 40, "b": 30},
                         yaxis_title=y_title, legend=LEGEND,
                         xaxis_range=[team["start"], team["end"]])
    shade_gaps(figure)
    model_changes.mark_model_changes(figure, changes, team["start"], team["end"])
    return figure


if team["gaps"]:
    st.caption(f"Shaded: {len(team['gaps'])} span(s) with no prober running — neither up nor down time.")

latency = pd.DataFrame(team["latency"])
figure = go.Figure()
if not latency.empty:
    figure.add_scatter(x=latency["bucket_start"], y=latency["p50_ms"], name="p50", mode="lines+markers")
    figure.add_scatter(x=latency["bucket_start"], y=latency["p95_ms"], name="p95", mode="lines+markers")
st.plotly_chart(layout(figure, "Predict latency of ok answers per hour", "ms"), width="stretch")
if latency.empty:
    st.caption("No ok predict answers to time in this window.")

left, right = st.columns(2)
uptime = pd.DataFrame(team["uptime"])
figure = go.Figure()
if not uptime.empty:
    figure.add_bar(x=uptime["hour_start"], y=100.0 * uptime["uptime"].astype(float), name="uptime")
left.plotly_chart(layout(figure, "Uptime per hour (health probes ok)", "%"), width="stretch")

rate = pd.DataFrame(team["rate200"])
figure = go.Figure()
if not rate.empty:
    figure.add_scatter(x=rate["bucket_start"], y=100.0 * rate["rate200"], name="200-rate",
                       mode="lines+markers")
right.plotly_chart(layout(figure, "200-rate per hour (predict probes)", "%"), width="stretch")

left, right = st.columns(2)
roc = team["roc"]
with left:
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], name="chance", mode="lines", line={"dash": "dot"})
    if roc["auc"] is not None:
        figure.add_scatter(x=roc["fpr"], y=roc["tpr"], name=f"ROC (AUC {roc['auc']:.3f})", mode="lines")
    figure.update_layout(title="ROC curve of the latest answers", height=CHART_HEIGHT + 60,
                         xaxis_title="false positive rate", yaxis_title="true positive rate",
                         margin={"t": 40, "b": 30}, legend=LEGEND)
    st.plotly_chart(figure, width="stretch")
    if roc["auc"] is not None:
        st.markdown(f"**AUC {roc['auc']:.3f}** over {roc['n']} answered evaluation samples.")
    else:
        st.caption(f"No ROC curve: {roc['reason']}.")
with right:
    st.markdown("**Recent failures**")
    failures = pd.DataFrame(team["failures"])
    if failures.empty:
        st.caption("No failed probes in this window.")
    else:
        failures["started_at"] = failures["started_at"].map(ui.time_text)
        st.dataframe(failures, hide_index=True, width="stretch")

st.markdown("**Incidents**")
if incidents:
    table = pd.DataFrame(incidents)
    table["started_at"] = table["started_at"].map(ui.time_text)
    table["resolved_at"] = table["resolved_at"].map(lambda t: "open" if pd.isna(t) else ui.time_text(t))
    table["lasted"] = table["lasted_s"].map(lambda s: "" if pd.isna(s) else duration_text(s))
    st.dataframe(table.drop(columns=["lasted_s"]), hide_index=True, width="stretch")
else:
    st.caption("No incidents: never down for long enough to open one.")

st.markdown("**Why this grade**")
why = board["why"].get(name, [])
st.markdown("\n".join(f"- {line}" for line in why) if why else "No explanation available yet.")

st.markdown("**Change history**")
try:
    changes = data.target_change_rows(url, name)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    changes = []
if changes:  # which fields changed, by whom and when; never a value
    history = pd.DataFrame(changes)
    history["at"] = history["at"].map(ui.time_text)
    st.dataframe(history, hide_index=True, width="stretch")
else:
    st.caption("No changes recorded since registration.")
