"""Team: one target's heartbeat strip, latency band, uptime, 200-rate, AUC per day, ROC curve, recent
failures and the why of its grade. Charts are per minute up to six hours, per hour beyond.

An openai-chat target shows its chat probes instead of predict probes (the latency band is the time
to first token), the speed of its streamed answers, its failed chat probes with their schema
reasons and its key enforcement, and no ROC or AUC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from alerts.messages import duration_text, reason_phrase
from dashboard import llm_views, model_changes, scoreboard, targets, team_history, ui
from dashboard.incidents import down_text, incident_rows
from dashboard.team_charts import resolution_text, team_charts
from storage.team_charts import HEARTBEAT_PROBES

WINDOW_LABELS = {1: "last hour", 6: "last 6 h", 24: "last 24 h", 72: "last 3 days", 168: "last 7 days"}
DEFAULT_WINDOW_H = 24
GAP_COLOUR = "rgba(128, 128, 128, 0.25)"
BAND_FILL = "rgba(31, 119, 180, 0.18)"
BAND_EDGE = "rgba(31, 119, 180, 0.6)"
P50_COLOUR = "rgb(31, 119, 180)"
# Heartbeat cells: ok, answered but not as the contract asks, no answer at all.
BEAT_COLOURS = [[0.0, "#2e9d4f"], [0.33, "#2e9d4f"], [0.33, "#f0a030"], [0.66, "#f0a030"],
                [0.66, "#d33a2c"], [1.0, "#d33a2c"]]
ANSWERED_WRONG = ("http_error", "bad_body", "too_large")
CHART_HEIGHT = 300
LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0}

st.title("Team")
settings = ui.page_settings()
if settings is None:
    st.stop()
url = settings.database_url

try:
    names = targets.target_names(url)
    kinds = llm_views.target_kinds(url)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()
if not names:
    st.info("No targets registered yet.")
    st.stop()

wanted = st.query_params.get("target")
c1, c2 = st.columns([2, 1])
name = c1.selectbox("Target", names, index=names.index(wanted) if wanted in names else 0, key="team_target",
                    format_func=lambda n: llm_views.kind_label(n, kinds))
window_h = c2.radio("Window", list(WINDOW_LABELS), index=list(WINDOW_LABELS).index(DEFAULT_WINDOW_H),
                    format_func=WINDOW_LABELS.get, horizontal=True, key="team_window")
st.query_params["target"] = name

try:
    team = team_history.team_view(url, name, window_h)
    board = scoreboard.scoreboard_view(url)
    incidents = incident_rows(url, name)
    model_changed_at = model_changes.model_change_times(url).get(name)
    llm = team["kind"] == "openai-chat"
    llm_view = llm_views.llm_team_view(url, name, window_h) if llm else None
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()

answer_kind = "chat" if llm else "predict"  # the probes that carry the answers, graded as 200-rate
row: dict[str, Any] = next((r for r in board["rows"] + board.get("llm_rows", []) if r["target"] == name), {})
st.subheader(ui.plain(name))  # a team's chosen name: shown as typed, never as markdown
st.caption("An OpenAI-compatible chat endpoint (openai-chat), graded on the LLM board." if llm
           else "A classifier, graded on the classifier board.")
now = datetime.now(UTC)
if llm_view is not None:
    llm_views.show_key_enforcement(llm_view["auth"])
for incident in (i for i in incidents if i["resolved_at"] is None):
    st.error(f"Incident: {incident['kind']} probes failing, {down_text(incident['started_at'], now)} "
             f"(since {ui.time_text(incident['started_at'])}; {incident['reason']}).")
if row:
    cols = st.columns(6)
    cols[0].metric("Rank", row["rank"])
    cols[1].metric("Total", f"{row['total']:.3f}")
    cols[2].metric("Status", row["status"])
    cols[3].metric("Multiplier", f"{row['multiplier']:.3f}")
    cols[4].metric("Stress", f"{row['stress_points']}/10" if row["stress_points"] is not None else "—")
    if llm:
        ttft = row.get("ttft_raw")
        cols[5].metric(f"TTFT {row.get('ttft_statistic', 'p95')}",
                       "—" if ttft is None else f"{1000 * ttft:.0f} ms")
    else:
        cols[5].metric("AUC (latest answers)", f"{team['roc']['auc']:.3f}" if team["roc"]["auc"] is not None
                       else "—")
    # Coverage and the rules that zeroed a component: reasons are clfwatch's own words, no team input.
    reasons = board["reasons"].get(name, {})
    if row.get("auc_coverage") is not None:
        st.caption(f"AUC coverage: {100 * row['auc_coverage']:.1f} % of the evaluation set answered "
                   f"validly (the latest valid answer per sample counts) · AUC: {reasons.get('auc', '')}")
    for key, why in row.get("ruled_zero", {}).items():
        st.warning(f"{scoreboard.COMPONENT_LABELS[key]}: 0 points — {why}")


def shade_gaps(figure: go.Figure) -> None:
    for start, end in charts["gaps"]:
        figure.add_vrect(x0=start, x1=end, fillcolor=GAP_COLOUR, line_width=0, layer="below")


def layout(figure: go.Figure, title: str, y_title: str, *, percent: bool = False) -> go.Figure:
    """Time on x over the whole window (UTC), y in the series' unit from zero."""
    figure.update_layout(title=title, height=CHART_HEIGHT, margin={"t": 40, "b": 30, "l": 10, "r": 10},
                         legend=LEGEND, xaxis_range=[charts["axis_start"], charts["end"]],
                         xaxis_title="time (UTC)", hovermode="x unified")
    if percent:
        figure.update_yaxes(title=y_title, range=[0, 102], ticksuffix=" %")
    else:
        figure.update_yaxes(title=y_title, rangemode="tozero", ticksuffix=" ms")
    shade_gaps(figure)
    model_changes.mark_model_changes(figure, model_changed_at, team["start"], team["end"])
    return figure


def no_probes_text(kind: str) -> str:
    """Why a series is empty, in words: never probed, or no prober running in the window."""
    beats = charts["heartbeat"][kind]
    if not beats:
        return f"No {kind} probes yet: the prober has not reached this target."
    return (f"No {kind} probes in this window: the newest was {ui.age_text(beats[-1]['started_at'], now)} "
            "(no prober running since?).")


def beat_class(outcome: str) -> int:
    return 0 if outcome == "ok" else 1 if outcome in ANSWERED_WRONG else 2


def beat_hover(beat: dict[str, Any]) -> str:
    status = "no answer" if beat["status_code"] is None else f"HTTP {beat['status_code']}"
    latency = "—" if beat["latency_ms"] is None else f"{beat['latency_ms']:.0f} ms"
    at = beat["started_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{at}<br>{status} · {latency}<br>{beat['reason']}"


try:
    charts = team_charts(url, name, window_h)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()
if llm_view is not None:
    llm_views.show_llm_measures(llm_view, row)

bucket_text = resolution_text(timedelta(seconds=charts["bucket_s"]))
span = duration_text((charts["end"] - charts["start"]).total_seconds())
clipped = " (since registration)" if charts["start"] <= charts["registered_at"] else ""
st.caption(f"Window: {ui.time_text(charts['start'])} to {ui.time_text(charts['end'])}, {span}{clipped}; "
           f"charts {bucket_text}.")
if charts["gaps"]:
    st.caption(f"Shaded: {len(charts['gaps'])} span(s) with no prober running — neither up nor down time.")

# Heartbeat strip: the newest probes per kind, one cell each, oldest on the left.
beats = charts["heartbeat"]
HEARTBEAT_TITLE = f"Heartbeat: last {HEARTBEAT_PROBES} probes per kind"
if not any(beats.values()):
    st.markdown(f"**{HEARTBEAT_TITLE}**")
    st.info(no_probes_text("health"))
else:
    z: list[list[int | None]] = []
    text: list[list[str]] = []
    for kind in charts["kinds"]:
        kind_beats = beats[kind]
        pad = HEARTBEAT_PROBES - len(kind_beats)
        z.append([None] * pad + [beat_class(b["outcome"]) for b in kind_beats])
        text.append([""] * pad + [beat_hover(b) for b in kind_beats])
    strip = go.Figure(go.Heatmap(
        z=z, y=list(charts["kinds"]), x=list(range(1, HEARTBEAT_PROBES + 1)), text=text,
        hovertemplate="%{text}<extra></extra>",
        zmin=0, zmax=2, showscale=False, xgap=2, ygap=4, colorscale=BEAT_COLOURS,
    ))
    strip.update_layout(title=HEARTBEAT_TITLE, height=150, margin={"t": 30, "b": 24, "l": 10, "r": 10})
    strip.update_xaxes(showticklabels=False, title="oldest → newest", showgrid=False, zeroline=False)
    strip.update_yaxes(showgrid=False)
    st.plotly_chart(strip, width="stretch", key="heartbeat_strip")
    st.caption("Green: ok · orange: answered, but not as the contract asks · red: no answer. "
               "Hover a cell for its time, status, latency and reason.")

predict = pd.DataFrame(charts["series"][answer_kind])
health = pd.DataFrame(charts["series"]["health"])
timed = predict[predict["latency_n"] > 0] if not predict.empty else predict
title = (f"Time to first token of ok chat answers {bucket_text}" if llm
         else f"Predict latency of ok answers {bucket_text}")
if timed.empty:
    st.markdown(f"**{title}**")
    if predict.empty:
        st.info(no_probes_text(answer_kind))
    else:
        st.info(f"No ok {answer_kind} answers to time in this window: all {int(predict['n_total'].sum())} "
                f"{answer_kind} probes failed.")
else:
    figure = go.Figure()
    figure.add_scatter(x=timed["bucket_start"], y=timed["p99_ms"], name="p99", mode="lines",
                       line={"width": 0.5, "color": BAND_EDGE})
    figure.add_scatter(x=timed["bucket_start"], y=timed["p50_ms"], name="p50–p99", mode="lines",
                       fill="tonexty", fillcolor=BAND_FILL, line={"width": 0.5, "color": BAND_EDGE})
    figure.add_scatter(x=timed["bucket_start"], y=timed["p95_ms"], name="p95", mode="lines",
                       line={"dash": "dot", "color": BAND_EDGE})
    figure.add_scatter(x=timed["bucket_start"], y=timed["p50_ms"], name="p50", mode="lines+markers",
                       line={"color": P50_COLOUR}, marker={"size": 4})
    st.plotly_chart(layout(figure, title, "time to first token" if llm else "latency"), width="stretch",
                    key="latency_chart")

left, right = st.columns(2)
with left:
    title = f"Uptime {bucket_text} (health probes ok)"
    if health.empty:
        st.markdown(f"**{title}**")
        st.info(no_probes_text("health"))
    else:
        figure = go.Figure()
        figure.add_scatter(x=health["bucket_start"], y=100.0 * health["n_ok"] / health["n_total"],
                           name="uptime", mode="lines+markers", marker={"size": 4}, line={"shape": "hv"})
        st.plotly_chart(layout(figure, title, "uptime", percent=True), width="stretch", key="uptime_chart")
        if int(health["n_ok"].sum()) == 0:
            st.caption(f"0 % uptime: all {int(health['n_total'].sum())} health probes in this window failed.")
with right:
    title = f"200-rate {bucket_text} ({answer_kind} probes)"
    if predict.empty:
        st.markdown(f"**{title}**")
        st.info(no_probes_text(answer_kind))
    else:
        figure = go.Figure()
        figure.add_scatter(x=predict["bucket_start"], y=100.0 * predict["n_200"] / predict["n_total"],
                           name="200-rate", mode="lines+markers", marker={"size": 4}, line={"shape": "hv"})
        st.plotly_chart(layout(figure, title, "answered 200", percent=True), width="stretch",
                        key="rate200_chart")
        if int(predict["n_200"].sum()) == 0:
            st.caption(f"0 % answered 200: none of the {int(predict['n_total'].sum())} {answer_kind} "
                       "probes did.")

if llm_view is not None:
    llm_views.show_chat_failures(llm_view)
else:  # a classifier: its ROC curve and AUC per day
    left, right = st.columns(2)
    roc = team["roc"]
    with left:
        figure = go.Figure()
        figure.add_scatter(x=[0, 1], y=[0, 1], name="chance", mode="lines", line={"dash": "dot"})
        if roc["auc"] is not None:
            figure.add_scatter(x=roc["fpr"], y=roc["tpr"], name=f"ROC (AUC {roc['auc']:.3f})", mode="lines")
        figure.update_layout(title="ROC curve of the latest answers", height=CHART_HEIGHT + 60,
                             xaxis_title="false positive rate", yaxis_title="true positive rate",
                             margin={"t": 40, "b": 30, "l": 10, "r": 10}, legend=LEGEND)
        st.plotly_chart(figure, width="stretch", key="roc_chart")
        if roc["auc"] is not None:
            st.markdown(f"**AUC {roc['auc']:.3f}** over {roc['n']} answered evaluation samples.")
        else:
            st.caption(f"No ROC curve: {roc['reason']}.")
    with right:
        days = pd.DataFrame(charts["days"])
        scored = days[days["auc"].notna()] if not days.empty else days
        if scored.empty:
            st.markdown("**AUC per day**")
            st.info("No AUC for any day of this window: not enough answered samples of both classes yet.")
        else:
            figure = go.Figure()
            figure.add_bar(x=scored["day"].map(lambda d: d.strftime("%b %d")), y=scored["auc"], name="AUC",
                           text=scored["auc"].map(lambda a: f"{a:.3f}"), textposition="outside",
                           customdata=scored["n"],
                           hovertemplate="%{x}: AUC %{y:.3f} over %{customdata} samples<extra></extra>")
            figure.update_layout(title="AUC per day (its newest answers, UTC days)", height=CHART_HEIGHT + 60,
                                 margin={"t": 40, "b": 30, "l": 10, "r": 10})
            figure.update_yaxes(range=[0, 1.08], title="AUC")
            figure.update_xaxes(type="category", title="day (UTC)")
            st.plotly_chart(figure, width="stretch", key="auc_days_chart")

st.markdown("**Recent failed health probes**" if llm else "**Recent failures**")
failures = pd.DataFrame(team["failures"])
if failures.empty:
    st.caption("No failed probes in this window.")
else:
    shown = pd.DataFrame({
        "time": failures["started_at"].map(lambda t: t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        "kind": failures["kind"],
        "outcome": failures["outcome"],
        "reason": [reason_phrase(o, None if pd.isna(c) else int(c))
                   for o, c in zip(failures["outcome"], failures["status_code"], strict=True)],
        "status": failures["status_code"].map(lambda c: "no answer" if pd.isna(c) else f"HTTP {int(c)}"),
        "latency": failures["latency_ms"].map(lambda v: "—" if pd.isna(v) else f"{v:.0f} ms"),
    })
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_config={"reason": st.column_config.TextColumn(width="large")})

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
    change_rows = targets.target_change_rows(url, name)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    change_rows = []
if change_rows:  # which fields changed, by whom and when; never a value
    history = pd.DataFrame(change_rows)
    history["at"] = history["at"].map(ui.time_text)
    st.dataframe(history, hide_index=True, width="stretch")
else:
    st.caption("No changes recorded since registration.")
