"""Window aggregates of probe rows, computed in the database, for scoring and the team pages.

How a window ``[start, end)`` is counted. Whole hours inside it are read from the hourly rollups
(``probe_rollups``, ``probe_latency_bins``) written beside the raw rows in the same transaction;
the partial hours at its two edges are counted from raw rows (index
``ix_probes_target_kind_started``). So counts, shares and the mean latency are exact — the same
numbers as counting every raw row — while a week of probes costs a few hundred rollup rows.

Latency percentiles (p50, p95) use the nearest-rank definition: the k-th smallest latency with
``k = ceil(q × n)``. Up to ``EXACT_PERCENTILE_MAX_ROWS`` latencies in the window, that value is
read exactly from raw rows (``ORDER BY latency_ms LIMIT 1 OFFSET k-1``). Above it, it comes from
the latency bins (edges ``storage.probes.LATENCY_BIN_EDGES_MS``, each 10 % wider than the last),
interpolated linearly inside the bin that holds the k-th value: always the same bin as the exact
value, so the result is within 10 % of it. Raw rows of the edge hours are binned with the same
edges.

Uptime counts only time the prober covered: health probes that started inside a prober gap are
left out (a gap is neither the target's uptime nor its downtime), and the gaps are returned so
they can be listed. Predict counts (200-rate, latency) use the whole window.

Latency for grading counts only ``ok`` predict probes: a 404 in 5 ms is not a fast answer. The
rollups' latency (``latency_n``, ``latency_sum_ms``, the latency bins) counts ok probes only
(``storage.probes``; migration 0005 rebuilt older rollups so), so whole hours are read from the
rollups whatever their outcomes, and the raw rows of the edge hours count their ok probes only.
A target that fails a few per cent of its predict probes costs no more than a healthy one.

The team page's latency chart (``latency_series``) reads the same rollups, so it shows the
latency of ok answers, the latency that is graded.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, select, text, union_all
from sqlalchemy.orm import Session

from storage.models import Probe, ProbeLatencyBin, ProbeRollup, Target, UTCDateTime
from storage.probes import LATENCY_BIN_EDGES_MS, ROLLUP_BUCKET, hour_floor, latency_bin_edge, prober_coverage

Span = tuple[datetime, datetime]

EXACT_PERCENTILE_MAX_ROWS = 20_000
# latest_probabilities reads at least this many of the newest predict probes in its first slice.
MIN_LOOKBACK_ROWS = 100
LOOKBACK_PER_SAMPLE = 2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SORT_WORK_MEM = "64MB"  # Postgres, for this transaction only
IN_LIST_CHUNK = 500
# Targets per batched count query: bounds the statement's size and bind parameters.
TARGETS_PER_QUERY = 200
LATENCY_STATISTICS = ("mean", "p50", "p95")
PERCENTILE_Q = {"p50": 0.50, "p95": 0.95}


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


@dataclass(frozen=True)
class WindowAggregates:
    """What scoring needs of one target over ``[start, end)``."""

    target_id: int
    start: datetime
    end: datetime
    health: ProbeCounts  # health probes inside the prober's coverage only
    predict: ProbeCounts  # predict probes over the whole window
    covered_s: float  # seconds of the window the prober covered
    gaps: list[Span] = field(default_factory=list)  # spans of the window with no prober running
    latency_statistic: str = "mean"
    latency_ms: float | None = None  # the statistic over ok predict probes; None without any
    latency_method: str = ""  # how latency_ms was computed, for the "why"
    latency_n: int = 0  # ok predict probes the statistic is over


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


# --- spans --------------------------------------------------------------------------------


def hour_ceil(at: datetime) -> datetime:
    """The first rollup bucket boundary at or after ``at``."""
    floor = hour_floor(at)
    return floor if floor == at else floor + ROLLUP_BUCKET


def clip_spans(spans: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of sorted, disjoint ``spans`` inside ``[start, end)``; empty ones dropped."""
    out = []
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s < e:
            out.append((s, e))
    return out


def span_gaps(covered: Sequence[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of ``[start, end)`` outside sorted, disjoint ``covered``."""
    gaps, cursor = [], start
    for s, e in covered:
        if s > cursor:
            gaps.append((cursor, s))
        cursor = max(cursor, e)
    if end > cursor:
        gaps.append((cursor, end))
    return gaps


def _split_hours(spans: Iterable[Span]) -> tuple[list[Span], list[Span]]:
    """Spans cut into whole rollup hours (read from rollups) and edge parts (read raw)."""
    hours: list[Span] = []
    edges: list[Span] = []
    for s, e in spans:
        if e <= s:
            continue
        first, last = hour_ceil(s), hour_floor(e)
        if first >= last:
            edges.append((s, e))
            continue
        hours.append((first, last))
        if s < first:
            edges.append((s, first))
        if last < e:
            edges.append((last, e))
    return hours, edges


def _in_spans(column: Any, spans: Sequence[Span]) -> ColumnElement[bool]:
    if not spans:
        return false()
    return or_(*(and_(column >= s, column < e) for s, e in spans))


# --- counts -------------------------------------------------------------------------------


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
    ok_latency = case((Probe.outcome == "ok", Probe.latency_ms), else_=None)
    # Targets sharing the same spans (same registration, same coverage) share one condition, so
    # the composite index serves ``target_id IN (...)`` once per span instead of once per target.
    groups: dict[tuple[Span, ...], list[int]] = defaultdict(list)
    for target_id, spans in spans_by_target.items():
        groups[tuple(spans)].append(target_id)
    items = list(groups.items())
    for i in range(0, len(items), TARGETS_PER_QUERY):
        hour_terms, edge_terms = [], []
        for spans, ids in items[i : i + TARGETS_PER_QUERY]:
            hours, edges = _split_hours(spans)
            for chunk in range(0, len(ids), IN_LIST_CHUNK):
                some = ids[chunk : chunk + IN_LIST_CHUNK]
                hour_terms += [
                    and_(ProbeRollup.target_id.in_(some), ProbeRollup.kind == kind,
                         ProbeRollup.bucket_start >= s, ProbeRollup.bucket_start < e)
                    for s, e in hours
                ]
                edge_terms += [
                    and_(Probe.target_id.in_(some), Probe.kind == kind, Probe.started_at >= s,
                         Probe.started_at < e)
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


# --- latency percentiles --------------------------------------------------------------------


def _nearest_rank(q: float, n: int) -> int:
    return max(1, math.ceil(q * n))


def _percentile_from_bins(counts: dict[float, int], q: float) -> float | None:
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


def _fill_lower_edges(counts: dict[float, int]) -> dict[float, int]:
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
    ok_timed = (Probe.target_id == target_id, Probe.kind == kind, Probe.outcome == "ok",
                Probe.latency_ms.is_not(None))
    if latency_n <= exact_max_rows:
        k = _nearest_rank(q, latency_n)
        value = session.scalar(
            select(Probe.latency_ms)
            .where(*ok_timed, _in_spans(Probe.started_at, spans))
            .order_by(Probe.latency_ms)
            .offset(k - 1)
            .limit(1)
        )
        return (float(value) if value is not None else None), f"exact, rank {k} of {latency_n} raw rows"
    hours, edges = _split_hours(spans)
    counts: dict[float, int] = defaultdict(int)
    if hours:
        rows = session.execute(
            select(ProbeLatencyBin.le_ms, func.sum(ProbeLatencyBin.n))
            .where(
                ProbeLatencyBin.target_id == target_id, ProbeLatencyBin.kind == kind,
                _in_spans(ProbeLatencyBin.bucket_start, hours),
            )
            .group_by(ProbeLatencyBin.le_ms)
        ).tuples()
        for edge, n in rows:
            counts[float(edge)] += int(n)
    if edges:
        latencies = session.scalars(
            select(Probe.latency_ms).where(*ok_timed, _in_spans(Probe.started_at, edges))
        )
        for latency in latencies:
            if latency is not None:
                counts[latency_bin_edge(float(latency))] += 1
    value = _percentile_from_bins(_fill_lower_edges(counts), q)
    return value, f"from latency bins of {latency_n} ok probes (within 10 %)"


# --- one target's window ------------------------------------------------------------------


def window_aggregates(
    session: Session,
    target_id: int,
    start: datetime,
    end: datetime,
    *,
    statistic: str = "mean",
    coverage: Sequence[Span] | None = None,
) -> WindowAggregates:
    """Counts, uptime inputs and the ok-latency statistic of one target over ``[start, end)``.

    ``coverage``: the prober's merged running spans (``prober_coverage``), read when None. An
    empty window gives zero counts and no latency.
    """
    return window_aggregates_many(
        session, {target_id: (start, end)}, statistic=statistic, coverage=coverage
    )[target_id]


def window_aggregates_many(
    session: Session,
    windows: Mapping[int, Span],
    *,
    statistic: str = "mean",
    coverage: Sequence[Span] | None = None,
) -> dict[int, WindowAggregates]:
    """``window_aggregates`` for many targets at once (target id -> its ``[start, end)``).

    Counts of all targets come from a few batched queries; the latency statistic counts ok
    predict probes only (see the module's docstring); percentiles, when asked for, need a query
    or two per target. ``coverage`` is read once when None.
    """
    if statistic not in LATENCY_STATISTICS:
        raise ValueError(f"unknown latency statistic {statistic!r}")
    live = {t: (s, e) for t, (s, e) in windows.items() if s < e}
    if coverage is None and live:
        coverage = prober_coverage(
            session, min(s for s, _ in live.values()), max(e for _, e in live.values())
        )
    covered = {t: clip_spans(coverage or [], s, e) for t, (s, e) in live.items()}
    health = probe_counts_many(session, "health", covered)
    predict = probe_counts_many(session, "predict", {t: [w] for t, w in live.items()})
    out: dict[int, WindowAggregates] = {}
    for target_id, (start, end) in windows.items():
        if target_id not in live:
            out[target_id] = WindowAggregates(target_id, start, end, ProbeCounts(), ProbeCounts(), 0.0, [],
                                              statistic, None, "empty window")
            continue
        timed = LatencySums(predict[target_id].latency_n, predict[target_id].latency_sum_ms)
        if statistic == "mean":
            latency_ms = timed.mean_ms
            method = (f"mean of {timed.n} ok predict latencies, exact (rollup hours + raw edge rows)"
                      if latency_ms is not None else "no ok predict latencies in the window")
        else:
            latency_ms, method = latency_percentile_ms(
                session, target_id, "predict", [(start, end)], PERCENTILE_Q[statistic],
                latency_n=timed.n,
            )
            method = f"{statistic} of {timed.n} ok predict latencies, {method}"
        out[target_id] = WindowAggregates(
            target_id=target_id, start=start, end=end, health=health[target_id],
            predict=predict[target_id],
            covered_s=sum((e - s).total_seconds() for s, e in covered[target_id]),
            gaps=span_gaps(covered[target_id], start, end),
            latency_statistic=statistic, latency_ms=latency_ms, latency_method=method,
            latency_n=timed.n,
        )
    return out


def last_probe_times(session: Session, before: datetime) -> dict[int, datetime]:
    """Target id to its newest probe started before ``before``; targets never probed are absent.

    One correlated index lookup per target and kind, never a scan of the whole probes table.
    """
    def newest(kind: str):  # type: ignore[no-untyped-def]
        return (
            select(func.max(Probe.started_at))
            .where(Probe.target_id == Target.id, Probe.kind == kind, Probe.started_at < before)
            .scalar_subquery()
        )

    rows = session.execute(select(Target.id, newest("health"), newest("predict"))).tuples()
    out: dict[int, datetime] = {}
    for target_id, health_at, predict_at in rows:
        times = [_aware(t) for t in (health_at, predict_at) if t is not None]
        if times:
            out[target_id] = max(times)
    return out


def _aware(value: datetime | str) -> datetime:
    """A scalar subquery's max() may bypass the column type on SQLite; make it an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- probabilities for ROC-AUC -----------------------------------------------------------------


def _latest_query(session: Session, target_id: int, conditions: list[ColumnElement[bool]]):  # type: ignore[no-untyped-def]
    # Grouping needs no linguistic order: a byte-wise collation sorts several times faster on Postgres.
    key = Probe.sample_id.collate("C") if session.get_bind().dialect.name == "postgresql" else Probe.sample_id
    ranked = (
        select(
            Probe.sample_id,
            Probe.probability,
            func.row_number()
            .over(partition_by=key, order_by=(Probe.started_at.desc(), Probe.id.desc()))
            .label("rn"),
        )
        .where(
            Probe.target_id == target_id, Probe.kind == "predict", Probe.outcome == "ok",
            Probe.sample_id.is_not(None), Probe.probability.is_not(None), *conditions,
        )
        .subquery()
    )
    return select(ranked.c.sample_id, ranked.c.probability).where(ranked.c.rn == 1)


def latest_probabilities(
    session: Session,
    target_id: int,
    at: datetime,
    *,
    sample_ids: Collection[str] | None = None,
    lookback_rows: int | None = None,
) -> dict[str, float]:
    """Sample id to the probability of the newest ``ok`` predict probe started before ``at``.

    With ``sample_ids``, only those samples are returned, and the rows are read newest first in
    slices that double in size (the first ``lookback_rows`` predict probes, default twice the
    samples asked for), each later slice only for the samples still missing; so a week of probes
    is not re-ranked when the last hours answered every sample. Empty dict when none answered.
    """
    if sample_ids is None:
        rows = session.execute(_latest_query(session, target_id, [Probe.started_at < at])).tuples()
        return {str(k): float(v) for k, v in rows}
    return latest_probabilities_many(
        session, [target_id], at, sample_ids=sample_ids, lookback_rows=lookback_rows
    )[target_id]


def _first_depth(wanted: Collection[str], lookback_rows: int | None) -> int:
    return lookback_rows or max(MIN_LOOKBACK_ROWS, LOOKBACK_PER_SAMPLE * len(wanted))


def latest_probabilities_many(
    session: Session,
    target_ids: Sequence[int],
    at: datetime,
    *,
    sample_ids: Collection[str],
    lookback_rows: int | None = None,
) -> dict[int, dict[str, float]]:
    """``latest_probabilities`` of many targets; the first slice of all of them in one query.

    Every target asked for is in the result (an empty dict when it answered nothing).
    """
    wanted = set(sample_ids)
    depth = _first_depth(wanted, lookback_rows)
    found: dict[int, dict[str, float]] = {t: {} for t in target_ids}
    cutoffs: dict[int, datetime | None] = {}
    seen: set[int] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    key = Probe.sample_id.collate("C") if postgres else Probe.sample_id
    if postgres and target_ids:
        # The newest slices of all targets are ranked in one sort; keep it in memory, not on disk.
        session.execute(text(f"SET LOCAL work_mem = '{SORT_WORK_MEM}'"))
    for i in range(0, len(target_ids), IN_LIST_CHUNK):
        ids = list(target_ids[i : i + IN_LIST_CHUNK])
        cut = (
            select(
                Target.id.label("target_id"),
                select(Probe.started_at)
                .where(Probe.target_id == Target.id, Probe.kind == "predict", Probe.started_at < at)
                .order_by(Probe.started_at.desc())
                .offset(depth)
                .limit(1)
                .scalar_subquery()
                .label("cutoff"),
            )
            .where(Target.id.in_(ids))
            .cte("cut")
            # computed once per target, not once per probe row it is joined to
            .prefix_with("MATERIALIZED")
        )
        for target_id, cutoff in session.execute(select(cut.c.target_id, cut.c.cutoff)).tuples():
            cutoffs[target_id] = None if cutoff is None else _aware(cutoff)
        ranked = (
            select(
                Probe.target_id, Probe.sample_id, Probe.probability,
                func.row_number()
                .over(partition_by=(Probe.target_id, key),
                      order_by=(Probe.started_at.desc(), Probe.id.desc()))
                .label("rn"),
            )
            .select_from(cut.join(Probe, Probe.target_id == cut.c.target_id))
            .where(
                Probe.kind == "predict", Probe.outcome == "ok", Probe.sample_id.is_not(None),
                Probe.probability.is_not(None), Probe.started_at < at,
                Probe.started_at >= func.coalesce(cut.c.cutoff, literal(EPOCH, UTCDateTime())),
            )
            .subquery()
        )
        query = select(ranked.c.target_id, ranked.c.sample_id, ranked.c.probability).where(ranked.c.rn == 1)
        for target_id, sample_id, probability in session.execute(query).tuples():
            seen.add(target_id)
            if sample_id in wanted:
                found[target_id][sample_id] = probability
    for target_id in target_ids:
        if target_id not in seen:  # nothing ok in its newest slice: read on from ``at``
            _read_older(session, target_id, wanted, found[target_id], at, depth)
        elif cutoffs[target_id] is not None and wanted - found[target_id].keys():
            _read_older(session, target_id, wanted, found[target_id], cutoffs[target_id], depth * 2)
    return found


def _read_older(
    session: Session, target_id: int, wanted: set[str], found: dict[str, float], upper: datetime | None,
    depth: int,
) -> None:
    """Read slices older than ``upper``, doubling, for the samples still missing from ``found``."""
    while upper is not None and wanted - found.keys():
        missing = wanted - found.keys()
        cutoff = session.scalar(
            select(Probe.started_at)
            .where(Probe.target_id == target_id, Probe.kind == "predict", Probe.started_at < upper)
            .order_by(Probe.started_at.desc())
            .offset(depth)
            .limit(1)
        )
        conditions = [Probe.started_at < upper]
        if cutoff is not None:
            conditions.append(Probe.started_at >= cutoff)
        if len(missing) <= IN_LIST_CHUNK:
            conditions.append(Probe.sample_id.in_(sorted(missing)))
        for sample_id, probability in session.execute(_latest_query(session, target_id, conditions)).tuples():
            if sample_id in missing:
                found[str(sample_id)] = float(probability)
        upper, depth = cutoff, depth * 2


# --- the team page's series ----------------------------------------------------------------------


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
        counts = _fill_lower_edges(bins.get(key, {}))
        points.append(
            LatencyPoint(
                bucket_start=key, n=int(n_latencies), mean_ms=total_ms / n_latencies,
                p50_ms=_percentile_from_bins(counts, 0.50), p95_ms=_percentile_from_bins(counts, 0.95),
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
