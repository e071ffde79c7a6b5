"""Probe rows, rollups and the prober's heartbeat, on SQLite and Postgres alike."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, literal, select

from storage.engine import session_scope
from storage.models import DETAIL_MAX_CHARS, Probe, ProbeLatencyBin, ProbeRollup
from storage.probes import (
    LATENCY_BIN_EDGES_MS,
    ProbeRow,
    beat_prober_session,
    hour_floor,
    latency_bin_edge,
    prober_coverage,
    prober_gaps,
    probes_between,
    record_probes,
    start_prober_session,
)
from storage.targets import add_target
from storage.windows import last_probe_times

T0 = datetime(2026, 11, 20, 9, 55, tzinfo=UTC)
OUTCOMES = ["ok", "ok", "ok", "timeout", "http_error", "bad_body", "connect_error"]


def make_rows(target_ids: list[int], n: int, seed: int) -> list[ProbeRow]:
    """Random rows straddling an hour boundary, some without a latency."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        outcome = rng.choice(OUTCOMES)
        answered = outcome in ("ok", "http_error", "bad_body")
        rows.append(
            ProbeRow(
                probe_uid=str(uuid.UUID(int=rng.getrandbits(128))),
                target_id=rng.choice(target_ids),
                kind=rng.choice(["health", "predict"]),
                started_at=T0 + timedelta(seconds=rng.uniform(0, 900)),
                outcome=outcome,
                status_code=(200 if outcome in ("ok", "bad_body") else 503) if answered else None,
                latency_ms=rng.lognormvariate(3, 1) if answered else None,
                detail=None if outcome == "ok" else outcome,
            )
        )
    return rows


def targets(url: str, n: int) -> list[int]:
    with session_scope(url) as session:
        return [
            add_target(session, name=f"t{i}", base_url=f"http://127.0.0.1:{9000 + i}").id for i in range(n)
        ]


def assert_rollups_match_raw(url: str) -> None:
    """Rollups equal counting the raw rows; late probes (0007 on) only in ``n_late``.

    Reads named columns only, so it also runs on a database at an older revision.
    """
    with session_scope(url) as session:
        has_late = "prober_late_ms" in {c["name"] for c in inspect(session.get_bind()).get_columns("probes")}
        late_col = Probe.prober_late_ms if has_late else literal(None)
        probes = session.execute(
            select(Probe.target_id, Probe.kind, Probe.started_at, Probe.outcome, Probe.status_code,
                   Probe.latency_ms, late_col)
        ).tuples().all()
        raw: dict[tuple[int, str, datetime], list[float]] = {}
        late: dict[tuple[int, str, datetime], int] = {}
        expected_bins: dict[tuple[int, str, datetime, float], int] = {}
        for target_id, kind, started_at, outcome, status, latency, late_ms in probes:
            key = (target_id, kind, hour_floor(started_at))
            if late_ms is not None:
                late[key] = late.get(key, 0) + 1
                raw.setdefault(key, [0, 0, 0, 0, 0.0])
                continue
            acc = raw.setdefault(key, [0, 0, 0, 0, 0.0])
            acc[0] += 1
            acc[1] += outcome == "ok"
            acc[2] += status == 200
            if outcome == "ok" and latency is not None:  # rollups time ok answers only
                acc[3] += 1
                acc[4] += latency
                bin_key = (*key, latency_bin_edge(latency))
                expected_bins[bin_key] = expected_bins.get(bin_key, 0) + 1
        rolled = {
            (t, k, b): [n, ok, n200, ln, ls]
            for t, k, b, n, ok, n200, ln, ls in session.execute(
                select(ProbeRollup.target_id, ProbeRollup.kind, ProbeRollup.bucket_start,
                       ProbeRollup.n_total, ProbeRollup.n_ok, ProbeRollup.n_200, ProbeRollup.latency_n,
                       ProbeRollup.latency_sum_ms)
            ).tuples()
        }
        assert rolled.keys() == raw.keys()
        for key, acc in raw.items():
            assert rolled[key][:4] == acc[:4], key
            assert rolled[key][4] == pytest.approx(acc[4], rel=1e-9)
        if has_late:
            rolled_late = dict(
                ((t, k, b), n) for t, k, b, n in session.execute(
                    select(ProbeRollup.target_id, ProbeRollup.kind, ProbeRollup.bucket_start,
                           ProbeRollup.n_late)
                ).tuples() if n
            )
            assert rolled_late == late
        bins: dict[tuple[int, str, datetime], int] = {}
        exact_bins: dict[tuple[int, str, datetime, float], int] = {}
        for t, k, b, le, n in session.execute(
            select(ProbeLatencyBin.target_id, ProbeLatencyBin.kind, ProbeLatencyBin.bucket_start,
                   ProbeLatencyBin.le_ms, ProbeLatencyBin.n)
        ).tuples():
            bins[(t, k, b)] = bins.get((t, k, b), 0) + n
            exact_bins[(t, k, b, le)] = n
        assert exact_bins == expected_bins
        assert {k: v for k, v in bins.items() if v} == {k: a[3] for k, a in raw.items() if a[3]}


def test_rollups_equal_raw_aggregates_after_batches_and_replays(db_url: str) -> None:
    ids = targets(db_url, 3)
    rows = make_rows(ids, 600, seed=1)
    batches = [rows[:150], rows[150:400], rows[100:300], rows[400:], rows[:600]]  # overlaps = replays
    new_counts = []
    for batch in batches:
        with session_scope(db_url) as session:
            new_counts.append(record_probes(session, batch))
    assert new_counts == [150, 250, 0, 200, 0]
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Probe)) == 600
        assert session.scalar(select(func.count(func.distinct(Probe.probe_uid)))) == 600
    assert_rollups_match_raw(db_url)


def test_a_failed_transaction_leaves_no_half_rollup(db_url: str) -> None:
    ids = targets(db_url, 1)
    rows = make_rows(ids, 50, seed=2)
    with pytest.raises(RuntimeError), session_scope(db_url) as session:
        record_probes(session, rows)
        raise RuntimeError("connection lost before commit")
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(ProbeRollup)) == 0
        assert record_probes(session, rows) == 50
    assert_rollups_match_raw(db_url)


@pytest.mark.parametrize(
    ("case", "row_changes", "stored"),
    [
        ("unknown target is skipped", {"target_id": 999_999}, 0),
        ("long detail is cut", {"detail": "x" * (DETAIL_MAX_CHARS * 3)}, 1),
        ("predict with sample", {"kind": "predict", "sample_id": "s-1", "probability": 0.25}, 1),
    ],
)
def test_record_edge_cases(db_url: str, case: str, row_changes: dict[str, object], stored: int) -> None:
    (tid,) = targets(db_url, 1)
    base = dict(
        probe_uid=str(uuid.uuid4()), target_id=tid, kind="health", started_at=T0, outcome="ok",
        status_code=200, latency_ms=3.0,
    )
    base.update(row_changes)
    with session_scope(db_url) as session:
        assert record_probes(session, [ProbeRow(**base)]) == stored, case  # type: ignore[arg-type]
        rows = probes_between(session, tid, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert len(rows) == stored
    if rows:
        assert len(rows[0].detail or "") <= DETAIL_MAX_CHARS
        assert rows[0].started_at == T0  # aware UTC round trip
        assert rows[0].probability == row_changes.get("probability")
        with session_scope(db_url) as session:
            assert last_probe_times(session, T0 + timedelta(seconds=1)) == {tid: T0}


def test_record_nothing() -> None:
    assert record_probes(None, []) == 0  # type: ignore[arg-type]


def test_latency_bins_are_fine_enough() -> None:
    assert latency_bin_edge(0.05) == LATENCY_BIN_EDGES_MS[0]
    for latency in (0.3, 5.0, 123.4, 9999.0):
        edge = latency_bin_edge(latency)
        assert latency <= edge <= latency * 1.11


# --- heartbeat, coverage and gaps ---------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Each session: (start_s, beats_s..., interval_s). Coverage runs to last beat + interval.
GAP_CASES = [
    ("one session covers all", [(0, [10, 20, 30, 40, 50], 10)], (0, 60), []),
    ("prober killed and restarted", [(0, [10, 20], 10), (75, [85, 95], 10)], (0, 100), [(30, 75)]),
    ("never ran", [], (0, 100), [(0, 100)]),
    ("started late", [(40, [50, 60], 10)], (0, 70), [(0, 40)]),
    ("stopped early", [(0, [10], 10)], (0, 100), [(20, 100)]),
    ("overlapping replicas", [(0, [10, 20], 10), (15, [25, 35, 45], 10)], (0, 55), []),
    ("gap inside window only", [(0, [10], 10), (50, [60], 10)], (5, 65), [(20, 50)]),
    ("session before window", [(-100, [-90], 10)], (0, 50), [(0, 50)]),
]


@pytest.mark.parametrize(("case", "sessions", "window", "gaps"), GAP_CASES)
def test_prober_gaps(
    db_url: str, case: str, sessions: list[tuple[float, list[float], float]],
    window: tuple[float, float], gaps: list[tuple[float, float]],
) -> None:
    with session_scope(db_url) as session:
        for start, beats, interval in sessions:
            sid = str(uuid.uuid4())
            start_prober_session(session, session_id=sid, hostname="h", interval_s=interval, at=at(start))
            start_prober_session(session, session_id=sid, hostname="h", interval_s=interval, at=at(start))
            for beat in beats:
                beat_prober_session(session, session_id=sid, at=at(beat))
            beat_prober_session(session, session_id=sid, at=at(start))  # an older beat never shrinks
    with session_scope(db_url) as session:
        found = prober_gaps(session, at(window[0]), at(window[1]))
        covered = prober_coverage(session, at(window[0]), at(window[1]))
    assert found == [(at(s), at(e)) for s, e in gaps], case
    total = sum((e - s).total_seconds() for s, e in found + covered)
    assert total == pytest.approx(window[1] - window[0])


def test_small_gaps_can_be_ignored(db_url: str) -> None:
    with session_scope(db_url) as session:
        for start, last in ((0, 10), (25, 40)):
            sid = str(uuid.uuid4())
            start_prober_session(session, session_id=sid, hostname="h", interval_s=10, at=at(start))
            beat_prober_session(session, session_id=sid, at=at(last))
    with session_scope(db_url) as session:
        assert prober_gaps(session, at(0), at(50)) == [(at(20), at(25))]
        assert prober_gaps(session, at(0), at(50), min_gap=timedelta(seconds=10)) == []
