"""Reads only the dashboard needs: the newest health probe per target, recent failures,
hourly counts from the rollups. Each query is bounded (per-target index lookups or rollup
rows), so a page stays fast with a week of probes from a whole course.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Probe, ProbeRollup, ProberSession, Target

HEALTH_KIND = "health"
PROBE_KINDS = ("health", "predict")


@dataclass(frozen=True)
class LastHealth:
    """The newest health probe of one target."""

    started_at: datetime  # aware, UTC
    outcome: str  # ok, timeout, connect_error, ...
    status_code: int | None  # None when no answer came


@dataclass(frozen=True)
class FailureRow:
    """One probe whose outcome was not ok; no detail text, which may quote a target's internals."""

    started_at: datetime  # aware, UTC
    kind: str  # health or predict
    outcome: str
    status_code: int | None
    latency_ms: float | None


@dataclass(frozen=True)
class HourCounts:
    """One hourly rollup bucket of one target and kind."""

    bucket_start: datetime  # aware, UTC, on the hour
    n_total: int
    n_ok: int  # outcome ok
    n_200: int  # answered 200
    latency_n: int  # ok rows with a latency (the rollups time ok answers only)
    latency_sum_ms: float


def last_health_probes(session: Session) -> dict[int, LastHealth]:
    """Target id to its newest health probe; targets never health-probed are absent.

    One index lookup per target (a correlated subquery), not a scan of every probe.
    """
    newest_id = (
        select(Probe.id)
        .where(Probe.target_id == Target.id, Probe.kind == HEALTH_KIND)
        .order_by(Probe.started_at.desc())
        .limit(1)
        .correlate(Target)
        .scalar_subquery()
    )
    ids = [i for i in session.scalars(select(newest_id).select_from(Target)) if i is not None]
    if not ids:
        return {}
    rows = session.execute(
        select(Probe.target_id, Probe.started_at, Probe.outcome, Probe.status_code).where(Probe.id.in_(ids))
    ).tuples()
    return {t: LastHealth(at, outcome, status) for t, at, outcome, status in rows}


def newest_prober_interval_s(session: Session) -> float | None:
    """The probe interval of the most recently seen prober, in seconds; None if none ever ran."""
    return session.scalar(
        select(ProberSession.interval_s).order_by(ProberSession.last_seen_at.desc()).limit(1)
    )


def recent_failures(
    session: Session, target_id: int, start: datetime, end: datetime, *, limit: int
) -> list[FailureRow]:
    """Up to ``limit`` non-ok probes of one target in ``[start, end)``, newest first; empty if none."""
    found: list[FailureRow] = []
    for kind in PROBE_KINDS:  # one index-ordered scan per kind, merged below
        query = (
            select(Probe.started_at, Probe.kind, Probe.outcome, Probe.status_code, Probe.latency_ms)
            .where(
                Probe.target_id == target_id,
                Probe.kind == kind,
                Probe.started_at >= start,
                Probe.started_at < end,
                Probe.outcome != "ok",
            )
            .order_by(Probe.started_at.desc())
            .limit(limit)
        )
        found.extend(FailureRow(*row) for row in session.execute(query).tuples())
    found.sort(key=lambda r: r.started_at, reverse=True)
    return found[:limit]


def hourly_counts(
    session: Session, target_id: int, kind: str, start: datetime, end: datetime
) -> list[HourCounts]:
    """Rollup buckets of one target and kind starting in ``[start, end)``, oldest first; empty if none."""
    query = (
        select(
            ProbeRollup.bucket_start, ProbeRollup.n_total, ProbeRollup.n_ok, ProbeRollup.n_200,
            ProbeRollup.latency_n, ProbeRollup.latency_sum_ms,
        )
        .where(
            ProbeRollup.target_id == target_id,
            ProbeRollup.kind == kind,
            ProbeRollup.bucket_start >= start,
            ProbeRollup.bucket_start < end,
        )
        .order_by(ProbeRollup.bucket_start)
    )
    return [HourCounts(*row) for row in session.execute(query).tuples()]
