"""The team page's charts: latency and uptime per hour (or per few hours), from the rollups only.

They read the same rollups as the grade, so the chart shows the latency of ok answers, the
latency that is graded. Whole hours only: the partial hours at a window's edges, which the grade
reads from raw rows, are not worth a raw scan for a chart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.latency_percentiles import fill_lower_edges, percentile_from_bins
from storage.models import ProbeLatencyBin, ProbeRollup
from storage.probes import ROLLUP_BUCKET, hour_floor


@dataclass(frozen=True)
class LatencyPoint:
    """Latency of one bucket of the team page's chart; ms, None when the bucket had none."""

    bucket_start: datetime
    n: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class UptimePoint:
    """Health probes of one hour; uptime is n_ok / n_total, None when the hour had none."""

    hour_start: datetime
    n_total: int
    n_ok: int
    uptime: float | None


def _bucket_of(hour: datetime, origin: datetime, bucket: timedelta) -> datetime:
    return origin + bucket * ((hour - origin) // bucket)


def latency_series(
    session: Session,
    target_id: int,
    start: datetime,
    end: datetime,
    bucket: timedelta = ROLLUP_BUCKET,
    *,
    kind: str = "predict",
) -> list[LatencyPoint]:
    """Mean, p50 and p95 latency (ms) of ok answers per ``bucket`` of the hours in ``[start, end)``.

    From rollups and latency bins only (p50/p95 within 10 %), so whole hours; ``bucket`` must be a
    positive whole number of hours. Buckets without probes are absent; empty list when none.
    """
    if bucket <= timedelta(0) or bucket % ROLLUP_BUCKET:
        raise ValueError("bucket must be a positive whole number of hours")
    origin = hour_floor(start)
    sums: dict[datetime, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for hour, n, total_ms in session.execute(
        select(ProbeRollup.bucket_start, ProbeRollup.latency_n, ProbeRollup.latency_sum_ms).where(
            ProbeRollup.target_id == target_id, ProbeRollup.kind == kind,
            ProbeRollup.bucket_start >= origin, ProbeRollup.bucket_start < end,
        )
    ).tuples():
        acc = sums[_bucket_of(hour, origin, bucket)]
        acc[0] += float(n)
        acc[1] += float(total_ms)
    bins: dict[datetime, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    for hour, edge, n in session.execute(
        select(ProbeLatencyBin.bucket_start, ProbeLatencyBin.le_ms, ProbeLatencyBin.n).where(
            ProbeLatencyBin.target_id == target_id, ProbeLatencyBin.kind == kind,
            ProbeLatencyBin.bucket_start >= origin, ProbeLatencyBin.bucket_start < end,
        )
    ).tuples():
        bins[_bucket_of(hour, origin, bucket)][float(edge)] += int(n)
    points: list[LatencyPoint] = []
    for key in sorted(sums):
        n_latencies, total_ms = sums[key]
        if n_latencies <= 0:
            continue
        counts = fill_lower_edges(bins.get(key, {}))
        points.append(
            LatencyPoint(
                bucket_start=key, n=int(n_latencies), mean_ms=total_ms / n_latencies,
                p50_ms=percentile_from_bins(counts, 0.50), p95_ms=percentile_from_bins(counts, 0.95),
            )
        )
    return points


def hourly_uptime(session: Session, target_id: int, start: datetime, end: datetime) -> list[UptimePoint]:
    """Health probes per hour starting in ``[start, end)``, from rollups; hours without probes absent.

    Gaps of the prober show as missing hours here; the grade's uptime leaves them out exactly.
    """
    rows = session.execute(
        select(ProbeRollup.bucket_start, ProbeRollup.n_total, ProbeRollup.n_ok)
        .where(
            ProbeRollup.target_id == target_id, ProbeRollup.kind == "health",
            ProbeRollup.bucket_start >= hour_floor(start), ProbeRollup.bucket_start < end,
        )
        .order_by(ProbeRollup.bucket_start)
    ).tuples()
    return [
        UptimePoint(hour, int(n), int(ok), (int(ok) / int(n)) if n else None) for hour, n, ok in rows
    ]
