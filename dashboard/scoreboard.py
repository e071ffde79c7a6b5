"""The graded board as a page shows it, shared by every viewer of this process."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.contract import TargetKind
from dashboard.cache import StaleWhileRevalidate
from dashboard.db import current_settings, session_for, sessions_for
from storage.dashboard_queries import last_health_probes, newest_prober_interval_s
from storage.targets import list_targets

SCOREBOARD_TTL_S = 30  # the grade moves slowly; a page may be half a minute behind
STALE_AFTER_INTERVALS = 3  # a health probe older than this many probe intervals is stale
STALE_MIN_S = 60.0
COMPONENT_LABELS = {"latency": "latency", "uptime": "uptime", "rate200": "200-rate", "auc": "AUC",
                    "ttft": "TTFT"}

BOARDS: StaleWhileRevalidate[dict[str, Any]] = StaleWhileRevalidate("board", SCOREBOARD_TTL_S)


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



def scoreboard_view(url: str) -> dict[str, Any]:
    """The graded board as rows for a table, plus each target's "why" lines.

    ``rows`` (the classifier board) and ``llm_rows`` (the openai-chat board, with the speed of
    its newest ok chat probes beside the grade) are each in rank order; ranks count within a
    board. ``status`` is up, down (newest health probe failed), stale (no health probe for a few
    intervals), never probed or inactive.

    Grading a week of a course's probes takes seconds, and every viewer sees the same board, so
    it is computed once per process and served from memory (``BOARDS``): when it is older than
    SCOREBOARD_TTL_S the stale board is served while one background thread grades anew. Only
    the first view after start (or after an admin change) waits for the computation.
    """
    sessions = sessions_for(url)  # resolved here: the refresh thread has no Streamlit context
    return BOARDS.get(url, lambda: _compute_board(url, sessions))


def _compute_board(url: str, sessions: sessionmaker[Session]) -> dict[str, Any]:
    from scoring.board import explain_target, grade_now
    from scoring.rules import load_grading_defaults
    from storage.chat_measures import chat_measures_many

    settings = current_settings()
    now = datetime.now(UTC)
    with session_for(url, "load the scoreboard", sessions) as session:
        board = grade_now(session, load_grading_defaults(rules_file=settings.rules_file,
                                                         defense_at=settings.defense_at))
        health = last_health_probes(session)
        interval_s = newest_prober_interval_s(session) or settings.probe_interval_s
        active = {v.id: v.active for v in list_targets(session)}
        speed = chat_measures_many(session, {t.target_id: (t.window_start, t.window_end)
                                             for t in board.llm_targets if t.window_start < t.window_end})
    stale_after_s = max(STALE_MIN_S, STALE_AFTER_INTERVALS * max(interval_s, settings.probe_interval_s))
    rows = []
    llm_rows = []
    for t in board.all_targets:
        status = _status(health.get(t.target_id), active.get(t.target_id, True), now, stale_after_s)
        row: dict[str, Any] = {"rank": t.rank, "target": t.name, "status": status, "kind": t.kind,
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
        if t.kind == TargetKind.OPENAI_CHAT:
            measures = speed.get(t.target_id)
            row.update(
                tokens_per_s=measures.tokens_per_s if measures else None,
                tokens_source=measures.tokens_source if measures else None,
                ttft_statistic=board.rules.llm_ttft_statistic,
            )
            llm_rows.append(row)
        else:
            rows.append(row)
    # Board order: the rank already holds the tie-break by base score, then the name.
    rows.sort(key=lambda r: (r["rank"], r["target"]))
    llm_rows.sort(key=lambda r: (r["rank"], r["target"]))
    doc = board.to_dict()
    return {
        "at": doc["at"],
        "rules": doc["rules"],
        "rows": rows,
        "llm_rows": llm_rows,
        "why": {t.name: list(explain_target(board, t.name)) for t in board.all_targets},
        "reasons": {t.name: {k: c.reason for k, c in t.components.items()} for t in board.all_targets},
    }
