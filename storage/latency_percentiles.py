"""Latency percentiles of ok probes: exact from raw rows, or from the latency bins beyond a size.

Nearest-rank definition: the k-th smallest latency with ``k = ceil(q × n)``. Up to
``EXACT_PERCENTILE_MAX_ROWS`` latencies in the window, that value is read exactly from raw rows
(``ORDER BY latency_ms LIMIT 1 OFFSET k-1``). Above it, it comes from the latency bins (edges
``storage.probes.LATENCY_BIN_EDGES_MS``, each 10 % wider than the last), interpolated linearly
inside the bin that holds the k-th value: always the same bin as the exact value, so the result
is within 10 % of it. Raw rows of the edge hours are binned with the same edges.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Probe, ProbeLatencyBin, graded_latency_column
from storage.probe_counts import ok_latency_sums
from storage.probes import LATENCY_BIN_EDGES_MS, latency_bin_edge
from storage.spans import Span, in_spans, split_hours

EXACT_PERCENTILE_MAX_ROWS = 20_000


def _nearest_rank(q: float, n: int) -> int:
    return max(1, math.ceil(q * n))


def percentile_from_bins(counts: dict[float, int], q: float) -> float | None:
    """Nearest-rank percentile from cumulative bins, interpolated inside its bin."""
    n = sum(counts.values())
    if n == 0:
        return None
    rank = q * n
    cumulative = 0
    lower = 0.0
    for edge in sorted(counts):
        count = counts[edge]
        if count and cumulative + count >= rank:
            if math.isinf(edge):  # above the last finite edge: the best bound we have
                return lower
            fraction = max(0.0, rank - cumulative) / count
            return lower + (edge - lower) * fraction
        cumulative += count
        lower = edge if not math.isinf(edge) else lower
    return lower


def _previous_edge(edge: float) -> float:
    index = bisect.bisect_left(LATENCY_BIN_EDGES_MS, edge)
    return LATENCY_BIN_EDGES_MS[index - 1] if index else 0.0


def fill_lower_edges(counts: dict[float, int]) -> dict[float, int]:
    """Bins as stored skip empty edges; add each bin's lower edge as an empty bin for interpolation."""
    full = dict(counts)
    for edge in counts:
        full.setdefault(_previous_edge(edge), 0)
    return full


def latency_percentile_ms(
    session: Session,
    target_id: int,
    kind: str,
    spans: Sequence[Span],
    q: float,
    *,
    latency_n: int | None = None,
    exact_max_rows: int = EXACT_PERCENTILE_MAX_ROWS,
) -> tuple[float | None, str]:
    """The ``q`` percentile (nearest rank) of ok probes' latencies in ``spans``, ms, and how.

    ``(None, reason)`` when no ok probe had a latency. Exact from raw rows up to
    ``exact_max_rows`` latencies, else from the latency bins (ok probes only, like the rollups),
    within 10 %. ``latency_n``: their count, ``ok_latency_sums(...).n``, read when None.
    """
    if latency_n is None:
        latency_n = ok_latency_sums(session, target_id, kind, spans).n
    if latency_n == 0:
        return None, "no latencies in the window"
    latency = graded_latency_column(kind)
    ok_timed = (Probe.target_id == target_id, Probe.kind == kind, Probe.outcome == "ok",
                latency.is_not(None), Probe.prober_late_ms.is_(None))
    if latency_n <= exact_max_rows:
        k = _nearest_rank(q, latency_n)
        value = session.scalar(
            select(latency)
            .where(*ok_timed, in_spans(Probe.started_at, spans))
            .order_by(latency)
            .offset(k - 1)
            .limit(1)
        )
        return (float(value) if value is not None else None), f"exact, rank {k} of {latency_n} raw rows"
    hours, edges = split_hours(spans)
    counts: dict[float, int] = defaultdict(int)
    if hours:
        rows = session.execute(
            select(ProbeLatencyBin.le_ms, func.sum(ProbeLatencyBin.n))
            .where(
                ProbeLatencyBin.target_id == target_id, ProbeLatencyBin.kind == kind,
                in_spans(ProbeLatencyBin.bucket_start, hours),
            )
            .group_by(ProbeLatencyBin.le_ms)
        ).tuples()
        for edge, n in rows:
            counts[float(edge)] += int(n)
    if edges:
        latencies = session.scalars(
            select(latency).where(*ok_timed, in_spans(Probe.started_at, edges))
        )
        for latency in latencies:
            if latency is not None:
                counts[latency_bin_edge(float(latency))] += 1
    value = percentile_from_bins(fill_lower_edges(counts), q)
    return value, f"from latency bins of {latency_n} ok probes (within 10 %)"

