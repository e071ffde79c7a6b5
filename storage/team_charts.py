"""Reads behind the team page's charts: per-minute or per-hour series, the heartbeat strip, and
the answers of one day for its AUC.

Minute buckets come from raw probes, so they are only read for short windows
(``MINUTE_WINDOW_MAX``): six hours of one target probed every second is ~22,000 rows per kind.
Hour buckets come from the rollups and latency bins only, so a week is a few hundred rows
whatever the probe count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.latency_percentiles import _nearest_rank, fill_lower_edges, percentile_from_bins
from storage.models import Probe, ProbeLatencyBin, ProbeRollup, graded_latency_column
from storage.probes import ROLLUP_BUCKET, hour_floor

MINUTE = timedelta(minutes=1)
MINUTE_WINDOW_MAX = timedelta(hours=6)  # longer windows are drawn from the hourly rollups
HEARTBEAT_PROBES = 100  # cells of the heartbeat strip, per kind
PERCENTILES = (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))


@dataclass(frozen=True)
class ChartBucket:
    """One bucket (a minute or an hour) of one target and kind."""

    bucket_start: datetime  # aware, UTC
    n_total: int  # probes started in the bucket
    n_ok: int  # outcome ok
    n_200: int  # answered HTTP 200
    latency_n: int  # ok probes with a latency: what the percentiles are over
    p50_ms: float | None  # None when latency_n is 0
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Beat:
    """One probe of the heartbeat strip; no detail text or body, which may quote a target's internals."""

    started_at: datetime  # aware, UTC
    outcome: str  # ok, timeout, connect_error, http_error, ...
    status_code: int | None  # None when no HTTP answer came
    latency_ms: float | None  # None when no answer came


def _minute_floor(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _exact_percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[_nearest_rank(q, len(sorted_ms)) - 1]


def minute_buckets(
    session: Session, target_id: int, kind: str, start: datetime, end: datetime
) -> list[ChartBucket]:
    """Per-minute counts and exact p50/p95/p99 (ms, ok probes; for chat probes the time to first
    token) in ``[start, end)``, oldest first.

    Minutes without probes are absent; empty list when none. ValueError for a window longer than
    ``MINUTE_WINDOW_MAX``: raw rows are read, so the window bounds the read.
    """
    if end - start > MINUTE_WINDOW_MAX + MINUTE:
        raise ValueError("minute buckets are for windows up to 6 hours; use hour_buckets")
    rows = session.execute(
        # chat probes: the time to first token, as in the hour rollups and bins
        select(Probe.started_at, Probe.outcome, Probe.status_code, graded_latency_column(kind)).where(
            Probe.target_id == target_id, Probe.kind == kind,
            Probe.started_at >= start, Probe.started_at < end,
            Probe.prober_late_ms.is_(None),  # the prober's lateness: out, as in the hour rollups
        )
    ).tuples()
    counts: dict[datetime, list[int]] = defaultdict(lambda: [0, 0, 0])
    latencies: dict[datetime, list[float]] = defaultdict(list)
    for started_at, outcome, status_code, latency_ms in rows:
        key = _minute_floor(started_at)
        acc = counts[key]
        acc[0] += 1
        acc[1] += outcome == "ok"
        acc[2] += status_code == 200
        if outcome == "ok" and latency_ms is not None:
            latencies[key].append(float(latency_ms))
    out = []
    for key in sorted(counts):
        timed = sorted(latencies.get(key, []))
        pct = {name: (_exact_percentile(timed, q) if timed else None) for name, q in PERCENTILES}
        n_total, n_ok, n_200 = counts[key]
        out.append(ChartBucket(key, n_total, n_ok, n_200, len(timed), **pct))
    return out


def hour_buckets(
    session: Session, target_id: int, kind: str, start: datetime, end: datetime
) -> list[ChartBucket]:
    """Per-hour counts and p50/p95/p99 (ms, within 10 %) from rollups and latency bins only.

    Hours starting in ``[hour_floor(start), end)``, oldest first; hours without probes absent;
    empty list when none.
    """
    origin = hour_floor(start)
    rollups = session.execute(
        select(ProbeRollup.bucket_start, ProbeRollup.n_total, ProbeRollup.n_ok, ProbeRollup.n_200,
               ProbeRollup.latency_n)
        .where(ProbeRollup.target_id == target_id, ProbeRollup.kind == kind,
               ProbeRollup.bucket_start >= origin, ProbeRollup.bucket_start < end)
        .order_by(ProbeRollup.bucket_start)
    ).tuples()
    bins: dict[datetime, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    for hour, edge, n in session.execute(
        select(ProbeLatencyBin.bucket_start, ProbeLatencyBin.le_ms, ProbeLatencyBin.n).where(
            ProbeLatencyBin.target_id == target_id, ProbeLatencyBin.kind == kind,
            ProbeLatencyBin.bucket_start >= origin, ProbeLatencyBin.bucket_start < end,
        )
    ).tuples():
        bins[hour][float(edge)] += int(n)
    out = []
    for hour, n_total, n_ok, n_200, latency_n in rollups:
        filled = fill_lower_edges(bins.get(hour, {}))
        pct = {name: (percentile_from_bins(filled, q) if latency_n else None) for name, q in PERCENTILES}
        out.append(ChartBucket(hour, int(n_total), int(n_ok), int(n_200), int(latency_n), **pct))
    return out


def bucket_for(start: datetime, end: datetime) -> timedelta:
    """A minute for windows up to six hours (a 3-minute outage stays visible), an hour beyond."""
    return MINUTE if end - start <= MINUTE_WINDOW_MAX else ROLLUP_BUCKET


def chart_buckets(
    session: Session, target_id: int, kind: str, start: datetime, end: datetime
) -> tuple[timedelta, list[ChartBucket]]:
    """The bucket size ``bucket_for`` gives the window, and the buckets of ``[start, end)``."""
    bucket = bucket_for(start, end)
    if bucket == MINUTE:
        return bucket, minute_buckets(session, target_id, kind, start, end)
    return bucket, hour_buckets(session, target_id, kind, start, end)


def heartbeat(session: Session, target_id: int, kind: str, *, limit: int = HEARTBEAT_PROBES) -> list[Beat]:
    """The newest ``limit`` probes of one target and kind, oldest first; empty list when never probed.

    One index-ordered scan (``ix_probes_target_kind_started``).
    """
    rows = session.execute(
        select(Probe.started_at, Probe.outcome, Probe.status_code, Probe.latency_ms)
        .where(Probe.target_id == target_id, Probe.kind == kind)
        .order_by(Probe.started_at.desc())
        .limit(limit)
    ).tuples()
    return [Beat(*row) for row in reversed(list(rows))]


def answers_between(
    session: Session, target_id: int, start: datetime, end: datetime, *, limit: int
) -> dict[str, float]:
    """Sample id to the newest ok probability among the last ``limit`` predict probes in ``[start, end)``.

    Bounded by ``limit`` (one index-ordered scan); empty dict when none answered.
    """
    rows = session.execute(
        select(Probe.sample_id, Probe.probability, Probe.outcome)
        .where(Probe.target_id == target_id, Probe.kind == "predict",
               Probe.started_at >= start, Probe.started_at < end)
        .order_by(Probe.started_at.desc())
        .limit(limit)
    ).tuples()
    found: dict[str, float] = {}
    for sample_id, probability, outcome in rows:
        if outcome == "ok" and sample_id is not None and probability is not None:
            found.setdefault(str(sample_id), float(probability))
    return found
