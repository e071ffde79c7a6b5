"""The graded board as a page shows it, shared by every viewer of this process."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard.db import current_settings, session_for
from storage.dashboard_queries import last_health_probes, newest_prober_interval_s
from storage.targets import list_targets

SCOREBOARD_TTL_S = 30  # the grade moves slowly; a page may be half a minute behind
STALE_AFTER_INTERVALS = 3  # a health probe older than this many probe intervals is stale
STALE_MIN_S = 60.0
COMPONENT_LABELS = {"latency": "latency", "uptime": "uptime", "rate200": "200-rate", "auc": "AUC"}

# How long a stale board may still be served without a viewer asking for it, before the next
# viewer waits for a fresh one. Streamlit sets it as a multiple of the TTL, one option for the
# whole process (only this cache refreshes in the background).
BOARD_STALE_LIMIT_S = 7 * 24 * 3600
BOARD_TTL_MULTIPLIER = BOARD_STALE_LIMIT_S / SCOREBOARD_TTL_S


def _status(health: Any, active: bool, now: datetime, stale_after_s: float) -> str:
    if not active:
        return "inactive"
    if health is None:
        return "never probed"
    if health.outcome != "ok":
        return "down"
    if (now - health.started_at).total_seconds() > stale_after_s:
        return "stale"
    return "up"


@st.cache_data(ttl=SCOREBOARD_TTL_S, refresh_mode="background", show_spinner=False)
def scoreboard_view(url: str) -> dict[str, Any]:
    """The graded board as rows for a table, plus each target's "why" lines.

    ``rows`` are in rank order; ``status`` is up, down (newest health probe failed), stale (no
    health probe for a few intervals), never probed or inactive.

    Grading a week of a course's probes takes seconds, and every viewer sees the same board, so
    it is computed once per process: when it is older than SCOREBOARD_TTL_S the stale board is
    served at once while one background thread grades anew (Streamlit's ``refresh_mode=
    "background"``; a refresh started before ``clear_caches()`` is dropped). Only the first view
    after start or after an admin change waits, and one after ``BOARD_STALE_LIMIT_S`` without a
    viewer (``clfwatch dashboard`` passes ``BOARD_TTL_MULTIPLIER``; Streamlit's default is 2).
    """
    from scoring.board import explain_target, grade_now
    from scoring.rules import load_grading_defaults

    settings = current_settings()
    now = datetime.now(UTC)
    with session_for(url, "load the scoreboard") as session:
        board = grade_now(session, load_grading_defaults(rules_file=settings.rules_file,
                                                         defense_at=settings.defense_at))
        health = last_health_probes(session)
        interval_s = newest_prober_interval_s(session) or settings.probe_interval_s
        active = {v.id: v.active for v in list_targets(session)}
    stale_after_s = max(STALE_MIN_S, STALE_AFTER_INTERVALS * max(interval_s, settings.probe_interval_s))
    rows = []
    for t in board.targets:
        status = _status(health.get(t.target_id), active.get(t.target_id, True), now, stale_after_s)
        row: dict[str, Any] = {"rank": t.rank, "target": t.name, "status": status,
                               "down_now": status in ("down", "stale", "never probed")}
        for key, comp in t.components.items():
            row[f"{key}_raw"] = comp.raw
            row[f"{key}_points"] = comp.points
        row.update(
            # components graded 0 by a rule rather than by a measure, with the rule's reason
            ruled_zero={k: c.reason for k, c in t.components.items()
                        if c.points is not None and (c.raw is None or (k == "auc" and t.auc_excluded))},
            auc_coverage=t.auc_coverage,
            base=t.base,
            multiplier=t.multiplier,
            total=t.total,
            stress_points=t.stress_points,
            last_probe_at=t.last_probe_at,
        )
        rows.append(row)
    # Board order: the rank already holds the tie-break by base score, then the name.
    rows.sort(key=lambda r: (r["rank"], r["target"]))
    doc = board.to_dict()
    return {
        "at": doc["at"],
        "rules": doc["rules"],
        "rows": rows,
        "why": {t.name: list(explain_target(board, t.name)) for t in board.targets},
        "reasons": {t.name: {k: c.reason for k, c in t.components.items()} for t in board.targets},
    }
