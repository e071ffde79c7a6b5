"""UI pieces more than one page shows: the admin gate, the safe error box, time formatting."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from core.settings import Settings, SettingsError
from dashboard import admin_auth, db
from dashboard.stress_launcher import ALL_SCENARIOS, start_stress_run, stress_launch_state

# Markdown (and Streamlit's :colour[...] / :icon: directives) must not act on a team's text.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def plain(text: str) -> str:
    """``text`` escaped for st.markdown/st.subheader: it shows as typed, never as markup."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


log = logging.getLogger(__name__)

ADMIN_STATE_KEY = "clfwatch_admin"
ADMIN_OFF_TEXT = "Admin is off: set CLFWATCH_ADMIN_PASSWORD for the dashboard process to turn it on."
GENERIC_ERROR_TEXT = "Something went wrong while loading this page; try again in a moment."


def page_settings() -> Settings | None:
    """The settings, or None after showing which variable is bad."""
    try:
        return db.current_settings()
    except SettingsError as exc:  # names the variable and the rule, never a value
        st.error(f"The dashboard is misconfigured: {exc}")
        return None


def show_error(exc: BaseException) -> None:
    """A short message for the page; the type goes to the log, nothing internal to the page."""
    if isinstance(exc, db.DashboardError):
        st.error(str(exc))
        return
    log.warning("event=page_error error=%s", type(exc).__name__)
    st.error(GENERIC_ERROR_TEXT)


FLASH_KEY = "clfwatch_flash"


def flash_success(message: str) -> None:
    """Show ``message`` after a full rerun, so every table on the page already shows the change."""
    st.session_state[FLASH_KEY] = message
    st.rerun()


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)


def admin_gate(settings: Settings, *, key: str) -> bool:
    """True once the admin password was entered in this browser session.

    Without a configured password the gate says admin is off and stays shut.
    """
    if not admin_auth.admin_enabled(settings):
        st.info(ADMIN_OFF_TEXT)
        return False
    if st.session_state.get(ADMIN_STATE_KEY):
        left, right = st.columns([4, 1])
        left.caption("Signed in as admin.")
        if right.button("Sign out", key=f"{key}_signout"):
            st.session_state[ADMIN_STATE_KEY] = False
            st.rerun()
        return True
    with st.form(f"{key}_login"):
        password = st.text_input("Admin password", type="password", key=f"{key}_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if admin_auth.check_admin_password(settings, password):
            st.session_state[ADMIN_STATE_KEY] = True
            st.rerun()
        st.error("Wrong password.")
    return False


def age_text(at: datetime | None, now: datetime | None = None) -> str:
    """"42 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for None."""
    if at is None:
        return "never"
    seconds = max(0.0, ((now or datetime.now(UTC)) - at).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def time_text(at: datetime | None) -> str:
    return "—" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


MIN_TIME_AXIS = timedelta(hours=1)


def time_axis(figure: Any, times: Sequence[datetime], *, minimum: timedelta = MIN_TIME_AXIS) -> None:
    """Span the x axis over at least ``minimum`` around ``times``, in UTC clock times.

    With one or two close points Plotly zooms in until it ticks in fractions of a second.
    """
    if not len(times):
        return
    first, last = min(times), max(times)
    pad = max(timedelta(0), (minimum - (last - first)) / 2) + (last - first) * 0.03
    figure.update_xaxes(type="date", range=[first - pad, last + pad], title="time (UTC)",
                        hoverformat="%Y-%m-%d %H:%M:%S UTC")


LAUNCHES_KEY = "clfwatch_stress_launches"


def stress_launcher(url: str, names: list[str], *, key: str) -> None:
    """Admin only: pick a target and start a stress run in its own process."""
    if not names:
        st.info("Register a target first.")
        return
    with st.form(f"{key}_stress_form"):
        name = st.selectbox("Target to stress", names, key=f"{key}_stress_target")
        only = st.multiselect("Scenarios (all ten of the target's suite when empty)", ALL_SCENARIOS,
                              key=f"{key}_stress_only")
        go = st.form_submit_button("Start stress run")
    if go and name:
        try:
            launch = start_stress_run(url, name, list(only))
        except Exception as exc:  # noqa: BLE001 - shown as a short message, logged by type
            show_error(exc)
        else:
            st.session_state.setdefault(LAUNCHES_KEY, []).append(launch)
            st.success(f"Stress run started against {launch.target}; verdicts appear on the Stress page.")
    for launch in st.session_state.get(LAUNCHES_KEY, []):
        state = stress_launch_state(launch.pid)
        if state == "running":
            st.caption(f"Stress run against {launch.target} running since {time_text(launch.started_at)}.")
        elif state == "failed":
            st.warning(f"The stress run against {launch.target} stopped early; see the dashboard's log.")
        elif state == "finished":
            st.caption(f"Stress run against {launch.target} finished.")
