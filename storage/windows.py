"""What scoring and the team pages need of one target's window ``[start, end)``, from the database.

The answer probes are ``predict`` probes for a classifier and ``chat`` probes for an openai-chat
target (``answer_kind``); for ``chat`` the latency counted is the time to first token, which is
what the rollups and latency bins of chat probes hold. ``auth`` probes count nowhere here.

Uptime counts only time the prober covered: health probes that started inside a prober gap are
left out (a gap is neither the target's uptime nor its downtime), and the gaps are returned so
they can be listed. Predict counts (200-rate, latency) use the whole window. Latency for grading
counts only ``ok`` predict probes (``storage.probe_counts``): a target that fails a few per cent
of its predict probes costs no more than a healthy one. Counts are exact (rollup hours + raw edge
rows); percentiles follow ``storage.latency_percentiles``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.latency_percentiles import latency_percentile_ms
from storage.models import Probe, Target
from storage.probe_counts import LatencySums, ProbeCounts, probe_counts_many
from storage.probes import prober_coverage
from storage.spans import Span, clip_spans, span_gaps

LATENCY_STATISTICS = ("mean", "p50", "p95")
PERCENTILE_Q = {"p50": 0.50, "p95": 0.95}
# What the latency statistic is over, in the "why" of a grade, per answer probe kind.
TIMED_WHAT = {"predict": "predict latencies", "chat": "chat probes' times to first token"}


@dataclass(frozen=True)
class WindowAggregates:
    """What scoring needs of one target over ``[start, end)``."""

    target_id: int
    start: datetime
    end: datetime
    health: ProbeCounts  # health probes inside the prober's coverage only
    # The answer probes (``answer_kind``: predict, or chat for an openai-chat target) over the
    # whole window; the name stays ``predict`` because classifiers' code and tests read it so.
    predict: ProbeCounts
    covered_s: float  # seconds of the window the prober covered
    gaps: list[Span] = field(default_factory=list)  # spans of the window with no prober running
    latency_statistic: str = "mean"
    latency_ms: float | None = None  # the statistic over ok predict probes; None without any
    latency_method: str = ""  # how latency_ms was computed, for the "why"
    latency_n: int = 0  # ok answer probes the statistic is over
    answer_kind: str = "predict"  # which probes ``predict`` counts: predict or chat




def window_aggregates(
    session: Session,
    target_id: int,
    start: datetime,
    end: datetime,
    *,
    statistic: str = "mean",
    coverage: Sequence[Span] | None = None,
    answer_kind: str = "predict",
) -> WindowAggregates:
    """Counts, uptime inputs and the ok-latency statistic of one target over ``[start, end)``.

    ``coverage``: the prober's merged running spans (``prober_coverage``), read when None. An
    empty window gives zero counts and no latency.
    """
    return window_aggregates_many(
        session, {target_id: (start, end)}, statistic=statistic, coverage=coverage,
        answer_kind=answer_kind,
    )[target_id]


def window_aggregates_many(
    session: Session,
    windows: Mapping[int, Span],
    *,
    statistic: str = "mean",
    coverage: Sequence[Span] | None = None,
    answer_kind: str = "predict",
) -> dict[int, WindowAggregates]:
    """``window_aggregates`` for many targets at once (target id -> its ``[start, end)``).

    Counts of all targets come from a few batched queries; the latency statistic counts ok
    ``answer_kind`` probes only (see the module's docstring; for ``chat`` it is the time to first
    token); percentiles, when asked for, need a query or two per target. ``coverage`` is read
    once when None.
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
    predict = probe_counts_many(session, answer_kind, {t: [w] for t, w in live.items()})
    what = TIMED_WHAT.get(answer_kind, f"{answer_kind} latencies")
    out: dict[int, WindowAggregates] = {}
    for target_id, (start, end) in windows.items():
        if target_id not in live:
            out[target_id] = WindowAggregates(target_id, start, end, ProbeCounts(), ProbeCounts(), 0.0, [],
                                              statistic, None, "empty window", answer_kind=answer_kind)
            continue
        timed = LatencySums(predict[target_id].latency_n, predict[target_id].latency_sum_ms)
        if statistic == "mean":
            latency_ms = timed.mean_ms
            method = (f"mean of {timed.n} ok {what}, exact (rollup hours + raw edge rows)"
                      if latency_ms is not None else f"no ok {what} in the window")
        else:
            latency_ms, method = latency_percentile_ms(
                session, target_id, answer_kind, [(start, end)], PERCENTILE_Q[statistic],
                latency_n=timed.n,
            )
            method = f"{statistic} of {timed.n} ok {what}, {method}"
        out[target_id] = WindowAggregates(
            target_id=target_id, start=start, end=end, health=health[target_id],
            predict=predict[target_id],
            covered_s=sum((e - s).total_seconds() for s, e in covered[target_id]),
            gaps=span_gaps(covered[target_id], start, end),
            latency_statistic=statistic, latency_ms=latency_ms, latency_method=method,
            latency_n=timed.n, answer_kind=answer_kind,
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

    rows = session.execute(
        select(Target.id, newest("health"), newest("predict"), newest("chat"))
    ).tuples()
    out: dict[int, datetime] = {}
    for target_id, *newest_at in rows:
        times = [as_aware_utc(t) for t in newest_at if t is not None]
        if times:
            out[target_id] = max(times)
    return out


def as_aware_utc(value: datetime | str) -> datetime:
    """A scalar subquery's max() may bypass the column type on SQLite; make it an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

