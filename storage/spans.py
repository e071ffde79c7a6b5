"""Time spans of a window: whole rollup hours apart from the raw edge parts, prober coverage clipped.

Every window query of storage cuts ``[start, end)`` the same way: whole hours inside it are read
from the hourly rollups (``probe_rollups``, ``probe_latency_bins``), the partial hours at its two
edges from raw rows. Keeping the cut in one module keeps counts, percentiles and the team page's
series in agreement about which probe falls where.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_

from storage.probes import ROLLUP_BUCKET, hour_floor

Span = tuple[datetime, datetime]


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


def split_hours(spans: Iterable[Span]) -> tuple[list[Span], list[Span]]:
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


def in_spans(column: Any, spans: Sequence[Span]) -> ColumnElement[bool]:
    """``column`` inside any of ``spans`` (half-open); always false for no spans."""
    if not spans:
        return false()
    return or_(*(and_(column >= s, column < e) for s, e in spans))

