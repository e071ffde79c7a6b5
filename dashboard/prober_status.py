"""The scoreboard's banner when the prober falls behind: overload is shown, never charged.

Read from the live probers' heartbeat rows (``storage.probes.prober_lateness_now``): a prober
that marked probes as its own lateness in the last minutes says so above the board, so nobody
reads a gap in the measurements as a team's failure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from storage.dashboard_queries import newest_prober_interval_s
from storage.engine import session_scope
from storage.probes import prober_lateness_now

PROBER_TTL_S = 30
RECENT_LATE = timedelta(minutes=15)  # a late probe this recent keeps the banner up
LIVE_MIN = timedelta(minutes=1)  # a heartbeat this recent (or 3 intervals) is a live prober


@st.cache_data(ttl=PROBER_TTL_S, show_spinner=False)
def prober_behind_text(url: str) -> str | None:
    """One line when a live prober marked late probes in the last RECENT_LATE; None otherwise."""
    now = datetime.now(UTC)
    with session_scope(url) as session:
        interval_s = newest_prober_interval_s(session) or 0.0
        live = max(LIVE_MIN, timedelta(seconds=3 * interval_s))
        late = prober_lateness_now(session, seen_since=now - live, late_since=now - RECENT_LATE)
    if late is None:
        return None
    worst = f"; latest delay {late.lateness_ms / 1000:.1f} s" if late.lateness_ms else ""
    return (
        f"The prober is falling behind: {late.late_probes:,} probes started too late to measure "
        f"(last at {late.late_at:%H:%M} UTC{worst}). They are not graded: the delay is ours, "
        "not the teams'."
    )
