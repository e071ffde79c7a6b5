"""Reads of the team API and the My team page: a team's own failed probes, with what came back.

A team sees more of its own failures than the public pages show (the detail and the start of
the answer body), because it is the team's own service that answered; never the sample's
label, text or id, and never another team's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.redaction import redact_text
from storage.models import Probe, Target, utcnow

# chat and auth: an openai-chat target's streamed answers and key-enforcement checks.
PROBE_KINDS = ("health", "predict", "chat", "auth")
FAILED_PROBES_LIMIT = 50
# How far back a failure is looked for: bounds the index scan of a target probed every few
# seconds for weeks that has had no failure at all.
FAILED_PROBES_LOOKBACK = timedelta(days=14)


@dataclass(frozen=True)
class FailedProbe:
    """One probe of the team's own target whose outcome was not ok."""

    started_at: datetime  # aware, UTC
    kind: str  # health, predict, chat or auth
    outcome: str  # timeout, connect_error, http_error, bad_body, ...
    status_code: int | None  # None when no HTTP answer came
    latency_ms: float | None  # None when no answer came
    detail: str | None  # the prober's short reason
    body_excerpt: str | None  # the first characters of the answer body, when there was one


def failed_probes(
    session: Session,
    target_id: int,
    *,
    limit: int = FAILED_PROBES_LIMIT,
    now: datetime | None = None,
    lookback: timedelta = FAILED_PROBES_LOOKBACK,
) -> list[FailedProbe]:
    """Up to ``limit`` newest non-ok probes of one target, newest first; empty list if none.

    One index-ordered scan per kind (``ix_probes_target_kind_started``), merged here. The detail
    and body excerpt are redacted of the target's own key and any bearer credential: a service
    that echoes its request headers must not put its key on a page.
    """
    end = now or utcnow()
    start = end - lookback
    found: list[FailedProbe] = []
    for kind in PROBE_KINDS:
        query = (
            select(
                Probe.started_at, Probe.kind, Probe.outcome, Probe.status_code, Probe.latency_ms,
                Probe.detail, Probe.body_excerpt,
            )
            .where(
                Probe.target_id == target_id,
                Probe.kind == kind,
                Probe.started_at >= start,
                Probe.started_at <= end,
                Probe.outcome != "ok",
            )
            .order_by(Probe.started_at.desc())
            .limit(limit)
        )
        found.extend(FailedProbe(*row) for row in session.execute(query).tuples())
    found.sort(key=lambda r: r.started_at, reverse=True)
    token = session.scalar(select(Target.token).where(Target.id == target_id))
    return [
        replace(f, detail=f.detail and redact_text(f.detail, [token]),
                body_excerpt=f.body_excerpt and redact_text(f.body_excerpt, [token]))
        for f in found[:limit]
    ]
