"""Counts of probes per target over spans: totals, ok, 200s and the latency of ok answers.

Whole hours come from the rollups written beside the raw rows, the edge parts from raw rows
(``storage.spans``), so the numbers are exact, the same as counting every raw row, while a week
costs a few hundred rollup rows. Latency counts ``ok`` probes only: the rollups time ok answers
only (``storage.probes``; migration 0005 rebuilt older rollups so) and the raw edge rows are
filtered the same way, so a fast 404 is never a fast answer. Probes marked as the prober's
lateness (``Probe.prober_late_ms`` set) are in none of these counts, rollups and edges alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from storage.models import Probe, ProbeRollup, graded_latency_column
from storage.spans import Span, split_hours

IN_LIST_CHUNK = 500
# Targets per batched count query: bounds the statement's size and bind parameters.
TARGETS_PER_QUERY = 200


@dataclass(frozen=True)
class ProbeCounts:
    """Counts of one kind of probe over some spans; all zero when there were none."""

    n_total: int = 0
    n_ok: int = 0  # outcome == "ok"
    n_200: int = 0  # status_code == 200
    latency_n: int = 0  # ok probes with a latency (the rollups time ok answers only)
    latency_sum_ms: float = 0.0  # over those ok probes

    @property
    def mean_latency_ms(self) -> float | None:
        """Mean latency of ok answers in ms; None when no ok probe had a latency."""
        return self.latency_sum_ms / self.latency_n if self.latency_n else None

    def __add__(self, other: ProbeCounts) -> ProbeCounts:
        return ProbeCounts(
            self.n_total + other.n_total, self.n_ok + other.n_ok, self.n_200 + other.n_200,
            self.latency_n + other.latency_n, self.latency_sum_ms + other.latency_sum_ms,
        )


@dataclass(frozen=True)
class LatencySums:
    """Latencies of ok probes only; n 0 when there was none."""

    n: int = 0  # ok probes with a latency
    sum_ms: float = 0.0

    @property
    def mean_ms(self) -> float | None:
        """Mean in ms; None without any."""
        return self.sum_ms / self.n if self.n else None

    def __add__(self, other: LatencySums) -> LatencySums:
        return LatencySums(self.n + other.n, self.sum_ms + other.sum_ms)



def probe_counts(session: Session, target_id: int, kind: str, spans: Sequence[Span]) -> ProbeCounts:
    """Counts of ``kind`` probes of one target inside ``spans``; zeros when none."""
    return probe_counts_many(session, kind, {target_id: spans}).get(target_id, ProbeCounts())


def probe_counts_many(
    session: Session, kind: str, spans_by_target: Mapping[int, Sequence[Span]]
) -> dict[int, ProbeCounts]:
    """Counts of ``kind`` probes per target inside that target's spans, a few round trips for all.

    Every target asked for is in the result, with zeros when it had no probes there. Latency
    counts ok probes only, from rollups and edge rows alike.
    """
    out = {target_id: ProbeCounts() for target_id in spans_by_target}
    # Raw edge rows time ok probes only, as the rollups do.
    ok_latency = case((Probe.outcome == "ok", graded_latency_column(kind)), else_=None)
    # Raw edge rows leave out the prober's late probes, as the rollups do (they count them in
    # n_late only): our lateness is never the target's latency, uptime or 200-rate.
    on_time = Probe.prober_late_ms.is_(None)
    # Targets sharing the same spans (same registration, same coverage) share one condition, so
    # the composite index serves ``target_id IN (...)`` once per span instead of once per target.
    groups: dict[tuple[Span, ...], list[int]] = defaultdict(list)
    for target_id, spans in spans_by_target.items():
        groups[tuple(spans)].append(target_id)
    items = list(groups.items())
    for i in range(0, len(items), TARGETS_PER_QUERY):
        hour_terms, edge_terms = [], []
        for spans, ids in items[i : i + TARGETS_PER_QUERY]:
            hours, edges = split_hours(spans)
            for chunk in range(0, len(ids), IN_LIST_CHUNK):
                some = ids[chunk : chunk + IN_LIST_CHUNK]
                hour_terms += [
                    and_(ProbeRollup.target_id.in_(some), ProbeRollup.kind == kind,
                         ProbeRollup.bucket_start >= s, ProbeRollup.bucket_start < e)
                    for s, e in hours
                ]
                edge_terms += [
                    and_(Probe.target_id.in_(some), Probe.kind == kind, Probe.started_at >= s,
                         Probe.started_at < e, on_time)
                    for s, e in edges
                ]
        parts: list[Any] = []
        if hour_terms:
            parts.append(
                select(
                    ProbeRollup.target_id,
                    func.sum(ProbeRollup.n_total), func.sum(ProbeRollup.n_ok), func.sum(ProbeRollup.n_200),
                    func.sum(ProbeRollup.latency_n), func.sum(ProbeRollup.latency_sum_ms),
                ).where(or_(*hour_terms)).group_by(ProbeRollup.target_id)
            )
        if edge_terms:
            parts.append(
                select(
                    Probe.target_id,
                    func.count(),
                    func.sum(case((Probe.outcome == "ok", 1), else_=0)),
                    func.sum(case((Probe.status_code == 200, 1), else_=0)),
                    func.count(ok_latency),
                    func.sum(ok_latency),
                ).where(or_(*edge_terms)).group_by(Probe.target_id)
            )
        if not parts:
            continue
        query: Any = parts[0] if len(parts) == 1 else union_all(*parts)
        for target_id, n, ok, n200, lat_n, lat_sum in session.execute(query).tuples():
            out[target_id] = out[target_id] + ProbeCounts(
                int(n or 0), int(ok or 0), int(n200 or 0), int(lat_n or 0), float(lat_sum or 0.0)
            )
    return out


# --- latency of ok probes -----------------------------------------------------------------------


def ok_latency_sums(session: Session, target_id: int, kind: str, spans: Sequence[Span]) -> LatencySums:
    """Count and sum (ms) of the latencies of ok ``kind`` probes inside ``spans``; zeros when none."""
    return ok_latency_sums_many(session, kind, {target_id: spans})[target_id]


def ok_latency_sums_many(
    session: Session, kind: str, spans_by_target: Mapping[int, Sequence[Span]]
) -> dict[int, LatencySums]:
    """``ok_latency_sums`` of many targets: rollups for whole hours, raw ok rows for the edges.

    Every target asked for is in the result, zeros when it had no ok probe with a latency.
    """
    counts = probe_counts_many(session, kind, spans_by_target)
    return {t: LatencySums(c.latency_n, c.latency_sum_ms) for t, c in counts.items()}

