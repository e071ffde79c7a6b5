"""Incidents and alert deliveries (issue 16) as the pages list them; a channel URL stays masked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from alerts.messages import duration_text
from dashboard.db import QUERY_TTL_S, session_for
from storage.alerts import all_channels, delivery_failures, incidents_of, open_incidents
from storage.targets import get_target


def down_text(started_at: datetime, now: datetime) -> str:
    """``down 12 min``: how long an open incident has lasted so far."""
    return f"down {duration_text((now - started_at).total_seconds())}"


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def open_incident_rows(url: str) -> dict[str, dict[str, Any]]:
    """Per target name with an open incident: since when, which kinds, the reason phrase."""
    with session_for(url, "load the open incidents") as session:
        opened = open_incidents(session)
    rows: dict[str, dict[str, Any]] = {}
    for inc in opened:  # oldest first: the first one per target gives the start and reason
        row = rows.setdefault(inc.target_name, {"started_at": inc.started_at, "kinds": [],
                                                "reason": inc.reason})
        row["kinds"].append(inc.kind)
    return rows


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def incident_rows(url: str, name: str) -> list[dict[str, Any]]:
    """A target's newest incidents, open or resolved, newest first; [] when none."""
    with session_for(url, "load the incidents") as session:
        found = incidents_of(session, get_target(session, name).id)
        return [
            {"kind": i.kind, "started_at": i.started_at, "resolved_at": i.resolved_at,
             "lasted_s": None if i.resolved_at is None else (i.resolved_at - i.started_at).total_seconds(),
             "outcome": i.outcome, "reason": i.reason, "failed_probes": i.failed_probes}
            for i in found
        ]


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def alert_channel_rows(url: str) -> list[dict[str, Any]]:
    """Every alert channel, masked: the URL itself never reaches a page."""
    with session_for(url, "load the alert channels") as session:
        return [{"id": c.id, "target": c.target_name or "(every target)", "url": c.masked,
                 "created_at": c.created_at} for c in all_channels(session)]


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def delivery_failure_rows(url: str) -> list[dict[str, Any]]:
    """The newest alert messages that did not get through after their retries."""
    with session_for(url, "load the alert delivery failures") as session:
        return [{"finished_at": f.finished_at, "target": f.target_name or "—", "event": f.event,
                 "channel": f.channel_masked or "(removed)", "attempts": f.attempts, "error": f.error or ""}
                for f in delivery_failures(session)]
