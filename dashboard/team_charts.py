"""What the team page's charts read: series at the resolution the window calls for, the heartbeat
strip, and the AUC of each day's answers.

Beside ``team_history.py`` rather than in it, so the charts can change without touching the shared reads.
The hidden labels are used here for the per-day AUC only; only AUC numbers leave this module.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from alerts.messages import reason_phrase
from core.contract import TargetKind
from dashboard.db import QUERY_TTL_S, DashboardError
from storage.engine import session_scope
from storage.evalset import eval_labels
from storage.probes import prober_gaps
from storage.targets import TargetError, get_target
from storage.team_charts import MINUTE, answers_between, chart_buckets, heartbeat

log = logging.getLogger(__name__)

KINDS = ("health", "predict")
LLM_KINDS = ("health", "chat")  # an openai-chat target's probes: its chat probes time the first token
DAY = timedelta(days=1)
MIN_GAP_SHOWN = timedelta(minutes=1)
# A day's AUC is over its newest answers: this many predict probes per evaluation sample at most.
DAY_ANSWERS_PER_SAMPLE = 2
MIN_DAY_ANSWERS = 100


def resolution_text(bucket: timedelta) -> str:
    return "per minute" if bucket == MINUTE else "per hour"


def _day_aucs(session: Any, target_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    from sklearn.metrics import roc_auc_score

    labels = eval_labels(session)
    limit = max(MIN_DAY_ANSWERS, DAY_ANSWERS_PER_SAMPLE * len(labels))
    days = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        answers = answers_between(session, target_id, max(day, start), min(day + DAY, end), limit=limit)
        common = [i for i in answers if i in labels]
        y_true = [labels[i] for i in common]
        auc = None
        if len(set(y_true)) == 2:
            auc = float(roc_auc_score(y_true, [answers[i] for i in common]))
        days.append({"day": day, "auc": auc, "n": len(common)})
        day += DAY
    del labels
    return days


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def team_charts(url: str, name: str, window_h: float) -> dict[str, Any]:
    """The charts of one target over the last ``window_h`` hours (never before its registration).

    ``bucket_s`` is 60 up to six hours, 3600 beyond; ``series[kind]`` are the buckets as dicts
    for each of ``kinds`` (health and predict, or health and chat for an openai-chat target, whose
    chat buckets' latency is the time to first token); ``heartbeat[kind]`` the newest probes with a
    reason phrase; ``days`` the per-day AUC (empty for an openai-chat target).
    """
    end = datetime.now(UTC)
    try:
        with session_scope(url) as session:
            view = get_target(session, name)
            start = min(max(end - timedelta(hours=window_h), view.registered_at), end)
            llm = view.kind == TargetKind.OPENAI_CHAT
            kinds = LLM_KINDS if llm else KINDS
            bucket, series = MINUTE, {}
            for kind in kinds:
                bucket, buckets = chart_buckets(session, view.id, kind, start, end)
                series[kind] = [asdict(b) for b in buckets]
            beats = {
                kind: [{"started_at": b.started_at, "outcome": b.outcome, "status_code": b.status_code,
                        "latency_ms": b.latency_ms,
                        "reason": "ok" if b.outcome == "ok" else reason_phrase(b.outcome, b.status_code)}
                       for b in heartbeat(session, view.id, kind)]
                for kind in kinds
            }
            gaps = prober_gaps(session, start, end, min_gap=MIN_GAP_SHOWN)
            days = [] if llm else _day_aucs(session, view.id, start, end)
    except TargetError:
        raise DashboardError("Unknown target.") from None
    except Exception as exc:
        log.warning("event=team_charts_failed error=%s", type(exc).__name__)
        raise DashboardError("Could not load the team charts right now; try again in a moment.") from None
    # Each bucket is drawn at its start: the axis opens at the first bucket's, or a target
    # registered mid-minute would have its first minute drawn left of the chart.
    axis_start = datetime.fromtimestamp(
        start.timestamp() // bucket.total_seconds() * bucket.total_seconds(), UTC
    )
    return {"start": start, "axis_start": axis_start, "end": end, "bucket_s": bucket.total_seconds(),
            "series": series,
            "heartbeat": beats, "gaps": gaps, "days": days, "registered_at": view.registered_at,
            "kinds": kinds}
