"""One target's recent history for its team page, and the ROC curve of its latest answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session

from dashboard.db import QUERY_TTL_S, session_for
from storage.dashboard_queries import hourly_counts, recent_failures
from storage.probes import prober_gaps
from storage.targets import get_target

RECENT_FAILURES_LIMIT = 20
BUCKET = timedelta(hours=1)  # rollups are hourly
MIN_GAP_SHOWN = timedelta(minutes=1)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def team_view(url: str, name: str, window_h: int) -> dict[str, Any]:
    """One target's recent history: latency p50/p95 of ok answers, uptime and 200-rate per hour, recent
    failures, prober gaps, and the ROC curve of its latest answers.

    The ROC curve is computed here from the hidden labels; only the curve's points and the AUC
    leave this function, never a label or a sample id.
    """
    from storage.team_series import hourly_uptime, latency_series

    end = datetime.now(UTC)
    with session_for(url, "load the team page") as session:
        view = get_target(session, name)
        start = max(end - timedelta(hours=window_h), view.registered_at)
        latency = latency_series(session, view.id, start, end, BUCKET)
        uptime = hourly_uptime(session, view.id, start, end)
        predict_hours = hourly_counts(session, view.id, "predict", start - BUCKET, end)
        failures = recent_failures(session, view.id, start, end, limit=RECENT_FAILURES_LIMIT)
        gaps = prober_gaps(session, start, end, min_gap=MIN_GAP_SHOWN)
        roc = _roc(session, view.id, end)
    return {
        "name": view.name,
        "kind": str(view.kind),
        "start": start,
        "end": end,
        "latency": [_plain(p) for p in latency],
        "uptime": [_plain(p) for p in uptime],
        "rate200": [
            {"bucket_start": h.bucket_start, "rate200": h.n_200 / h.n_total, "n": h.n_total}
            for h in predict_hours
            if h.n_total
        ],
        "failures": [
            {"started_at": f.started_at, "kind": f.kind, "outcome": f.outcome,
             "status_code": f.status_code, "latency_ms": f.latency_ms}
            for f in failures
        ],
        "gaps": gaps,
        "roc": roc,
    }


def _plain(point: Any) -> dict[str, Any]:
    """A storage record (dataclass, named tuple or mapping) as a plain dict."""
    if isinstance(point, dict):
        return dict(point)
    if hasattr(point, "_asdict"):
        return dict(point._asdict())
    if hasattr(point, "__dataclass_fields__"):
        return {k: getattr(point, k) for k in point.__dataclass_fields__}
    raise TypeError(f"unexpected record {type(point).__name__}")


def _roc(session: Session, target_id: int, at: datetime) -> dict[str, Any]:
    """ROC points and AUC of the latest probability per sample; ``reason`` when not computable."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from storage.evalset import eval_labels
    from storage.latest_answers import latest_probabilities

    labels = eval_labels(session)
    probabilities = latest_probabilities(session, target_id, at, sample_ids=labels.keys())
    common = sorted(set(probabilities) & set(labels))
    y_true = [labels[i] for i in common]
    y_score = [probabilities[i] for i in common]
    del labels, probabilities
    if len(set(y_true)) < 2:
        return {"fpr": [], "tpr": [], "auc": None, "n": len(common),
                "reason": "not enough answered samples of both classes yet"}
    fpr, tpr, _thresholds = roc_curve(y_true, y_score)
    return {"fpr": [float(x) for x in fpr], "tpr": [float(x) for x in tpr],
            "auc": float(roc_auc_score(y_true, y_score)), "n": len(common), "reason": None}
