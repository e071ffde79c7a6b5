"""Probe rows, their hourly rollups, and the prober's own heartbeat.

Raw rows and rollups are written in one transaction, so the two can never disagree;
a batch replayed after a database outage lands exactly once (``probe_uid`` is unique).
The rollups' latency (``latency_n``, ``latency_sum_ms``, the latency bins) counts ok probes only,
the latency that is graded, so whole hours never need their raw rows: for ``chat`` probes that is
the time to first token, for every other kind the whole exchange. A probe marked as the
prober's lateness (``prober_late_ms`` set) is counted in ``n_late`` only: it is our gap, never the
target's latency, uptime or 200-rate.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import Select, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import (
    BODY_EXCERPT_MAX_CHARS,
    DETAIL_MAX_CHARS,
    TTFT_PROBE_KIND,
    Probe,
    ProbeLatencyBin,
    ProbeRollup,
    ProberSession,
    Target,
)

ROLLUP_BUCKET = timedelta(hours=1)
INSERT_CHUNK_ROWS = 500
# Upper edges of the latency bins: 0.1 ms growing by 10 % up to about 10 minutes,
# so a percentile read from bins is within 10 % of the exact one.
LATENCY_BIN_GROWTH = 1.1
LATENCY_BIN_EDGES_MS: tuple[float, ...] = tuple(
    round(0.1 * LATENCY_BIN_GROWTH**k, 4) for k in range(166)
) + (math.inf,)


@dataclass(frozen=True)
class ProbeRow:
    """One probe as the prober hands it to storage."""

    probe_uid: str  # unique per probe, made by the prober; replays are no-ops
    target_id: int
    kind: str  # core.contract.ProbeKind: health, predict, chat or auth
    started_at: datetime  # aware, UTC: when the request was sent
    outcome: str  # ok, timeout, connect_error, http_error, bad_body, ...
    status_code: int | None = None  # HTTP status, None when no answer came
    latency_ms: float | None = None  # connect to last byte, monotonic clock; None when no answer
    detail: str | None = None  # short reason for a non-ok outcome, no secrets
    sample_id: str | None = None  # predict probes: the evaluation sample sent
    probability: float | None = None  # predict probes: the probability returned
    connect_ms: float | None = None  # the part of latency_ms spent opening the connection
    body_excerpt: str | None = None  # failed probes with an answer: its first bytes, as text
    # ms after its slot the probe started, set only past the late bound: the prober's lateness,
    # counted in the rollups' n_late and in no graded count. None: on time.
    prober_late_ms: float | None = None
    # chat probes only (openai-chat targets): what the streamed answer measured.
    ttft_ms: float | None = None  # request sent to the first non-empty content chunk
    itl_ms: float | None = None  # mean gap between successive content chunks
    tokens_per_s: float | None = None  # output tokens over the time after the first one
    output_tokens: int | None = None
    tokens_source: str | None = None  # "usage" (the server's count) or "chunks" (ours)


# Every field is a scalar: a plain getattr per field, not dataclasses.asdict's recursive copy.
_PROBE_ROW_FIELDS = tuple(f.name for f in fields(ProbeRow))


def hour_floor(at: datetime) -> datetime:
    """The start of the rollup bucket holding ``at``."""
    return at.replace(minute=0, second=0, microsecond=0)


def latency_bin_edge(latency_ms: float) -> float:
    """The upper edge of the bin that counts ``latency_ms``."""
    return LATENCY_BIN_EDGES_MS[bisect.bisect_left(LATENCY_BIN_EDGES_MS, latency_ms)]


def _insert(session: Session, table: type) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def record_probes(session: Session, rows: Sequence[ProbeRow]) -> int:
    """Insert probe rows and update their rollups; returns how many were new.

    Rows whose uid exists already, or whose target was removed meanwhile, are skipped.
    """
    if not rows:
        return 0
    target_ids = {r.target_id for r in rows}
    known = set(session.scalars(select(Target.id).where(Target.id.in_(target_ids))))
    payload = []
    for r in rows:
        if r.target_id not in known:
            continue
        item = {name: getattr(r, name) for name in _PROBE_ROW_FIELDS}
        if item["detail"] is not None:
            item["detail"] = item["detail"][:DETAIL_MAX_CHARS]
        if item["body_excerpt"] is not None:
            item["body_excerpt"] = item["body_excerpt"][:BODY_EXCERPT_MAX_CHARS]
        payload.append(item)
    inserted: list[tuple[int, str, datetime, str, int | None, float | None, float | None]] = []
    # One statement, many parameter sets: SQLAlchemy caches its compiled form and batches the
    # rows ("insertmanyvalues"); a literal multi-row .values() was compiled anew for every batch
    # (over a second of CPU per thousand probes).
    graded_latency = case((Probe.kind == TTFT_PROBE_KIND, Probe.ttft_ms), else_=Probe.latency_ms)
    stmt = (
        _insert(session, Probe)
        .on_conflict_do_nothing(index_elements=["probe_uid"])
        .returning(
            Probe.target_id, Probe.kind, Probe.started_at, Probe.outcome,
            Probe.status_code, graded_latency, Probe.prober_late_ms,
        )
    )
    connection = session.connection()
    for start in range(0, len(payload), INSERT_CHUNK_ROWS):
        inserted.extend(connection.execute(stmt, payload[start : start + INSERT_CHUNK_ROWS]).tuples().all())
    _add_to_rollups(session, inserted)
    return len(inserted)


def _add_to_rollups(
    session: Session,
    inserted: Iterable[tuple[int, str, datetime, str, int | None, float | None, float | None]],
) -> None:
    sums: dict[tuple[int, str, datetime], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0, 0])
    bins: dict[tuple[int, str, datetime, float], int] = defaultdict(int)
    for target_id, kind, started_at, outcome, status, latency, late_ms in inserted:
        key = (target_id, kind, hour_floor(started_at))
        acc = sums[key]
        if late_ms is not None:  # the prober's lateness: in no graded count
            acc[5] += 1
            continue
        acc[0] += 1
        acc[1] += outcome == "ok"
        acc[2] += status == 200
        if outcome == "ok" and latency is not None:  # graded latency: ok answers only
            acc[3] += 1
            acc[4] += latency
            bins[(*key, latency_bin_edge(latency))] += 1
    connection = session.connection()
    if sums:
        stmt = _insert(session, ProbeRollup)
        ex = stmt.excluded
        upsert = stmt.on_conflict_do_update(
            index_elements=["target_id", "kind", "bucket_start"],
            set_={
                "n_total": ProbeRollup.n_total + ex.n_total,
                "n_ok": ProbeRollup.n_ok + ex.n_ok,
                "n_200": ProbeRollup.n_200 + ex.n_200,
                "latency_n": ProbeRollup.latency_n + ex.latency_n,
                "latency_sum_ms": ProbeRollup.latency_sum_ms + ex.latency_sum_ms,
                "n_late": ProbeRollup.n_late + ex.n_late,
            },
        )
        connection.execute(upsert, [
            dict(target_id=t, kind=k, bucket_start=b, n_total=a[0], n_ok=a[1],
                 n_200=a[2], latency_n=a[3], latency_sum_ms=a[4], n_late=a[5])
            for (t, k, b), a in sums.items()
        ])
    if bins:
        items = [
            dict(target_id=t, kind=k, bucket_start=b, le_ms=le, n=n)
            for (t, k, b, le), n in bins.items()
        ]
        stmt = _insert(session, ProbeLatencyBin)
        upsert = stmt.on_conflict_do_update(
            index_elements=["target_id", "kind", "bucket_start", "le_ms"],
            set_={"n": ProbeLatencyBin.n + stmt.excluded.n},
        )
        for start in range(0, len(items), INSERT_CHUNK_ROWS):
            connection.execute(upsert, items[start : start + INSERT_CHUNK_ROWS])


def probes_between(
    session: Session,
    target_id: int,
    start: datetime,
    end: datetime,
    *,
    kind: str | None = None,
    limit: int | None = None,
) -> list[Probe]:
    """Raw probe rows of one target in ``[start, end)``, newest first; empty when none."""
    query: Select[Probe] = (
        select(Probe)
        .where(Probe.target_id == target_id, Probe.started_at >= start, Probe.started_at < end)
        .order_by(Probe.started_at.desc())
    )
    if kind is not None:
        query = query.where(Probe.kind == kind)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# --- the prober's heartbeat -------------------------------------------------------------


def start_prober_session(
    session: Session, *, session_id: str, hostname: str, interval_s: float, at: datetime,
    shard_ordinal: int | None = None,
) -> None:
    """Record that a prober process started at ``at``; a second call for the same id is a no-op.

    Idempotent so that a start retried after a lost commit acknowledgement cannot wedge the
    prober's writer on a primary-key conflict.
    """
    if session.get(ProberSession, session_id) is not None:
        return
    session.add(
        ProberSession(
            id=session_id, hostname=hostname[:256], started_at=at, last_seen_at=at,
            interval_s=interval_s, shard_ordinal=shard_ordinal,
        )
    )
    session.flush()


def live_shard_ordinals(session: Session, *, seen_since: datetime) -> set[int]:
    """The ordinals of the ``--shard auto`` probers whose heartbeat is newer than ``seen_since``."""
    query = select(ProberSession.shard_ordinal).where(
        ProberSession.shard_ordinal.is_not(None), ProberSession.last_seen_at >= seen_since
    )
    return {int(ordinal) for ordinal in session.scalars(query.distinct()) if ordinal is not None}


def beat_prober_session(
    session: Session, *, session_id: str, at: datetime, lateness_ms: float | None = None,
    late_probes: int = 0, late_at: datetime | None = None,
) -> None:
    """Extend a prober session's coverage to ``at``, with its own lateness.

    ``lateness_ms``: the worst start delay (ms after the slot) of the probes since the previous
    beat, None when none started; ``late_probes``: probes this session marked late so far;
    ``late_at``: when it last marked one (kept when None).
    """
    row = session.get(ProberSession, session_id)
    if row is not None and at > row.last_seen_at:
        row.last_seen_at = at
        row.lateness_ms = lateness_ms
        row.late_probes = max(row.late_probes or 0, late_probes)
        if late_at is not None:
            row.late_at = late_at
        session.flush()


@dataclass(frozen=True)
class ProberLateness:
    """A live prober that fell behind recently, for the dashboard's banner."""

    late_at: datetime  # the newest probe marked late, UTC
    late_probes: int  # probes marked late (kept, not graded) by the live probers that were behind
    lateness_ms: float | None  # the worst start delay at their newest heartbeat, ms


def prober_lateness_now(
    session: Session, *, seen_since: datetime, late_since: datetime
) -> ProberLateness | None:
    """The live probers that marked probes late since ``late_since``; None when none did.

    A prober is live when its heartbeat is newer than ``seen_since``; none live gives None.
    """
    rows = session.execute(
        select(ProberSession.late_at, ProberSession.late_probes, ProberSession.lateness_ms).where(
            ProberSession.last_seen_at >= seen_since, ProberSession.late_at >= late_since
        )
    ).tuples().all()
    if not rows:
        return None
    worst = [float(ms) for _, _, ms in rows if ms is not None]
    return ProberLateness(
        late_at=max(at for at, _, _ in rows if at is not None),
        late_probes=sum(int(n or 0) for _, n, _ in rows),
        lateness_ms=max(worst) if worst else None,
    )


def prober_coverage(
    session: Session, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Merged spans of ``[start, end)`` during which some prober was running.

    A session covers from its start to one interval past its last heartbeat. Empty list
    when no prober ran in the window.
    """
    rows = session.execute(
        select(ProberSession.started_at, ProberSession.last_seen_at, ProberSession.interval_s)
        .where(ProberSession.started_at < end)
        .order_by(ProberSession.started_at)
    ).tuples()
    spans: list[tuple[datetime, datetime]] = []
    for s, last, interval in rows:
        e = min(last + timedelta(seconds=interval), end)
        s = max(s, start)
        if e <= s:
            continue
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return spans


def prober_gaps(
    session: Session, start: datetime, end: datetime, *, min_gap: timedelta = timedelta(0)
) -> list[tuple[datetime, datetime]]:
    """Spans of ``[start, end)`` with no prober running, longer than ``min_gap``.

    The whole window when no prober ever ran in it; empty when it was covered throughout.
    """
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for s, e in prober_coverage(session, start, end):
        if s - cursor > min_gap:
            gaps.append((cursor, s))
        cursor = max(cursor, e)
    if end - cursor > min_gap:
        gaps.append((cursor, end))
    return gaps
