"""Stress: runs per target (ad-hoc runs against unregistered URLs apart) of both suites (the
classifier's and the LLM suite), then one run's ten verdicts, its evidence collapsed to one line per
scenario."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import llm_views, stress_launcher, stress_runs, targets, ui

ALL_TARGETS = "(all targets)"
REFRESH_S = 2  # while a run is in progress, its verdicts are re-read this often
# evidence key -> column; rows stored before these counts existed show them empty
COUNT_COLUMNS = (("requests", "requests"), ("answered", "answered"), ("refused", "refused"),
                 ("timeouts", "timeouts"), ("transport_errors", "other errors"))
# A run that stopped because the target did not answer stores one row of this name with the
# reason (stress.preflight.PREFLIGHT_ROW; not imported: stress brings Locust's world with it).
PREFLIGHT_ROW = "preflight"

st.title("Stress")
settings = ui.page_settings()
if settings is None:
    st.stop()
url = settings.database_url

try:
    names = targets.target_names(url)
    kinds = llm_views.target_kinds(url)  # each suite is for one kind: the list says which
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()

chosen = st.selectbox("Target", [ALL_TARGETS, *names], key="stress_target",
                      format_func=lambda n: n if n == ALL_TARGETS else llm_views.kind_label(n, kinds))
target = None if chosen == ALL_TARGETS else chosen

with st.expander("Start a run (admin)", expanded=bool(st.session_state.get(ui.ADMIN_STATE_KEY))):
    if ui.admin_gate(settings, key="stress"):
        ui.stress_launcher(url, names, key="stress")


def load_runs() -> list[dict[str, Any]] | None:
    try:
        return stress_runs.stress_runs(url, target)
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
        return None


def any_running(runs: list[dict[str, Any]] | None) -> bool:
    launched = any(stress_launcher.stress_launch_state(launch.pid) == "running"
                   for launch in st.session_state.get(ui.LAUNCHES_KEY, []))
    return launched or any(r["status"] == "running" for r in runs or [])


def counts(result: dict[str, Any]) -> dict[str, Any]:
    """Answered requests beside refused, timed-out and other failed ones: never one "requests"."""
    evidence = result["evidence"] if isinstance(result["evidence"], dict) else {}
    return {label: evidence.get(key) for key, label in COUNT_COLUMNS}


def stopped_reason(run: dict[str, Any]) -> str:
    """Why a failed run ran no scenario (the target did not answer), from its ``preflight`` row."""
    if run["status"] != "failed":
        return ""
    for result in run["results"]:
        if result["scenario"] == PREFLIGHT_ROW and result["summary"]:
            return str(result["summary"])
    return ""


NOT_GRADED = "no (--only, --bar, --token or --model)"


def run_table(runs: list[dict[str, Any]], *, by_url: bool = False) -> pd.DataFrame:
    """A registered target's stress points are its newest finished run that is "graded": the
    whole suite, the course's bars, the target as registered (not ``--only``, ``--bar``...)."""
    return pd.DataFrame(
        [{"run": r["id"], ("URL" if by_url else "target"): r["url"] if by_url else r["target"],
          "suite": r["suite"], "started": ui.time_text(r["started_at"]), "status": r["status"],
          "score": f"{r['score']}/{r['out_of']}", "scenarios done": r["done"],
          **({} if by_url else {"graded": "yes" if r["graded"] else NOT_GRADED})}
         for r in runs]
    )


def run_label(run: dict[str, Any]) -> str:
    who = run["target"] or f"{run['url']} (unregistered)"
    when = ui.time_text(run["started_at"])
    score = f"{run['score']}/{run['out_of']}"
    return f"run {run['id']} · {who} · {run['suite']} suite · {when} · {run['status']} · {score}"


def render_details(run: dict[str, Any]) -> None:
    """One run's verdicts, then one collapsed line per scenario: its evidence opens on demand."""
    reason = stopped_reason(run)
    if reason:
        st.error(f"Stopped before any scenario: {reason}")
    verdicts = pd.DataFrame([{"scenario": r["scenario"], "verdict": r["verdict"], **counts(r)}
                             for r in run["results"]])
    st.dataframe(verdicts, hide_index=True, width="stretch")
    st.caption("Evidence per scenario: open a line for the JSON and the curl commands that reproduce it.")
    for result in run["results"]:
        if result["evidence"] is None:
            continue
        line = f": {result['summary']}" if result["summary"] else ""
        with st.expander(f"{result['scenario']} — {result['verdict']}{line}", expanded=False):
            for command in result["curl"]:
                st.code(command, language="bash", wrap_lines=True)
            st.json(result["evidence"], expanded=True)


def render_runs(runs: list[dict[str, Any]]) -> None:
    if not runs:
        st.info("No stress runs yet.")
        return
    registered = [r for r in runs if r["target"] is not None]
    unregistered = [r for r in runs if r["target"] is None]
    st.subheader("Runs against registered targets")
    if registered:
        st.dataframe(run_table(registered), hide_index=True, width="stretch")
    else:
        st.caption("None yet.")
    if unregistered:
        # Ad-hoc runs (``clfwatch stress run URL``) are not a team's: apart, so they never read as one.
        st.subheader("Runs against unregistered URLs")
        st.dataframe(run_table(unregistered, by_url=True), hide_index=True, width="stretch")
    st.subheader("Run details")
    by_label = {run_label(r): r for r in registered + unregistered}
    chosen = st.selectbox("Run", list(by_label), key="stress_run")
    render_details(by_label[chosen or next(iter(by_label))])


following = any_running(load_runs())


@st.fragment(run_every=REFRESH_S if following else None)
def runs_section() -> None:
    """Re-read while a run is in progress, so verdicts appear as they are stored."""
    runs = load_runs()
    if runs is None:
        return
    if following:
        st.caption("A run is in progress; this list follows it.")
    render_runs(runs)
    if following and not any_running(runs):
        st.rerun()  # the run ended: render once more as a whole page, without the timer


runs_section()
