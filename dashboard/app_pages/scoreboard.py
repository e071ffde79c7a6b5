"""Scoreboard: every target's rank, components, multiplier, total, stress points, liveness; one board
per kind (classifiers, then LLM endpoints when there are any), each ranked apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import llm_views, model_changes, prober_status, scoreboard, ui
from dashboard.incidents import down_text, open_incident_rows
from scoring.rules import COMPONENTS

# Words, not emoji: a browser without an emoji font shows boxes.
STATUS_TEXT = {"up": "up", "down": "DOWN", "stale": "stale", "never probed": "never probed",
               "inactive": "inactive"}
DOWN_WORDS = ("DOWN", "stale", "never probed")
DOWN_STYLE = "background-color: #fde0e0; color: #a00000; font-weight: bold"

st.title("Scoreboard")
settings = ui.page_settings()
if settings is None:
    st.stop()

try:
    view = scoreboard.scoreboard_view(settings.database_url)
    incidents = open_incident_rows(settings.database_url)
    changes = model_changes.model_change_times(settings.database_url)
    behind = prober_status.prober_behind_text(settings.database_url)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()

rows = view["rows"]
llm_rows = view.get("llm_rows", [])
now = datetime.now(UTC)
st.caption(f"Graded at {view['at']} · refreshed every {scoreboard.SCOREBOARD_TTL_S} s · "
           "raw measures beside their points; a component with no data scores nothing; "
           "base = points before the lifetime multiplier, it breaks ties in the total.")
if not rows and not llm_rows:
    st.info("No targets registered yet.")
    st.stop()

down = [r["target"] for r in rows + llm_rows if r["down_now"]]
metrics = st.columns(4 if llm_rows else 3)
metrics[0].metric("Targets", len(rows) + len(llm_rows))
metrics[1].metric("Down now", len(down))
metrics[2].metric("Leader", rows[0]["target"] if rows else "—")
if llm_rows:
    metrics[3].metric("LLM leader", llm_rows[0]["target"])
if down:
    st.error("Down now: " + ", ".join(down))
if incidents:
    st.warning("Open incidents: " + "; ".join(
        f"{name} {down_text(i['started_at'], now)} ({', '.join(i['kinds'])}: {i['reason']})"
        for name, i in incidents.items()
    ))
if behind:
    st.warning(behind)


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


if llm_rows:
    st.subheader("Classifiers")
if not rows:
    st.caption("No classifier targets registered.")
else:
    # Two tables that each fit a 1280 px screen. The board is an HTML table, so a long course name
    # wraps and is read whole (two names that differ only at the end stay apart); the measures
    # table beside the points is a data grid with the name pinned on its left.
    board_table = pd.DataFrame(
        [
            {
                "rank": r["rank"],
                "target": r["target"],
                "kind": r["kind"],
                "status": STATUS_TEXT.get(r["status"], r["status"]),
                "incident": down_text(incidents[r["target"]]["started_at"], now)
                if r["target"] in incidents else "",
                "total": r["total"],
                "base": r["base"],
                "multiplier": r["multiplier"],
                "stress": "—" if r["stress_points"] is None else f"{r['stress_points']}/10",
                "model": model_changes.changed_text(changes.get(r["target"]), now),
                "last probe": ui.age_text(r["last_probe_at"], now),
            }
            for r in rows
        ]
    )
    if not incidents:
        board_table = board_table.drop(columns=["incident"])
    if not llm_rows:  # one kind only: the column would say "classifier" on every row
        board_table = board_table.drop(columns=["kind"])
    st.table(
        board_table.style.hide(axis="index")
        .format({"total": "{:.3f}", "base": "{:.3f}", "multiplier": "{:.3f}"}, na_rep="—")
        .map(lambda v: DOWN_STYLE if v in DOWN_WORDS else "", subset=["status"])
        .set_properties(subset=["target"], **{"word-break": "break-word", "min-width": "12em"})
    )

    table = pd.DataFrame(
        [
            {
                "rank": r["rank"],
                "target": r["target"],
                "latency (s)": r.get("latency_raw"),
                "latency pts": r.get("latency_points"),
                "uptime (%)": _pct(r.get("uptime_raw")),
                "uptime pts": r.get("uptime_points"),
                "200-rate (%)": _pct(r.get("rate200_raw")),
                "200-rate pts": r.get("rate200_points"),
                "AUC": r.get("auc_raw"),
                "AUC pts": r.get("auc_points"),
                "AUC coverage (%)": _pct(r.get("auc_coverage")),
            }
            for r in rows
        ]
    )
    st.caption("Measures and their points per component (— : no data in the window, so no points):")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn(width=40, pinned=True),
            "target": st.column_config.TextColumn(width="medium", pinned=True,
                                                  help="the whole name is in the board above"),
            "latency (s)": st.column_config.NumberColumn(format="%.3f", width="small"),
            "uptime (%)": st.column_config.NumberColumn(format="%.2f", width="small"),
            "200-rate (%)": st.column_config.NumberColumn(format="%.2f", width="small"),
            "AUC": st.column_config.NumberColumn(format="%.3f", width="small"),
            "AUC coverage (%)": st.column_config.NumberColumn(format="%.1f", width="small"),
            **{c: st.column_config.NumberColumn(format="%.3f", width="small")
               for c in ("latency pts", "uptime pts", "200-rate pts", "AUC pts")},
        },
    )

    # A table, not markdown: a team's name is shown as typed, never interpreted.
    ruled = [{"target": r["target"], "component": scoreboard.COMPONENT_LABELS[k], "0 points because": why}
             for r in rows for k, why in r["ruled_zero"].items()]
    if ruled:
        st.caption("Graded 0 by a rule, not by a measure (no place in the AUC ranking for AUC):")
        st.dataframe(pd.DataFrame(ruled), hide_index=True, width="stretch")

    export = board_table.drop(columns=["status", "last probe", "incident", "kind"], errors="ignore").merge(
        table.drop(columns=["rank"]), on="target").assign(
        status=[r["status"] for r in rows],
        last_probe_at=[r["last_probe_at"].isoformat() if r["last_probe_at"] else "" for r in rows],
    )
    st.download_button("Download CSV", export.to_csv(index=False).encode(), file_name="scoreboard.csv",
                       mime="text/csv")

    figure = go.Figure()
    for key in COMPONENTS:
        figure.add_bar(name=scoreboard.COMPONENT_LABELS[key], x=[r["target"] for r in rows],
                       y=[(r.get(f"{key}_points") or 0.0) for r in rows])
    figure.update_layout(barmode="stack", title="Points by component (before the multiplier)",
                         height=360, margin={"t": 40, "b": 40}, legend={"orientation": "h"})
    st.plotly_chart(figure, width="stretch")

if llm_rows:
    llm_views.show_llm_board(llm_rows, incidents, now)
st.caption("Open a target's page under Team for its charts and the why of its grade.")
