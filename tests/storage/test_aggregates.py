"""Window aggregates from rollups + raw edge rows agree with counting every raw row by hand."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage.engine import session_scope
from storage.latency_percentiles import latency_percentile_ms
from storage.latest_answers import latest_probabilities
from storage.models import ProbeLatencyBin, ProbeRollup
from storage.probe_counts import LatencySums, ProbeCounts, ok_latency_sums, probe_counts
from storage.probes import ProbeRow, hour_floor, latency_bin_edge, record_probes
from storage.targets import add_target
from storage.team_series import hourly_uptime, latency_series
from storage.windows import last_probe_times, window_aggregates
from tests.conftest import template_copy
from tests.scoring.data import probe, prober_ran

T0 = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
OUTCOMES = ["ok"] * 8 + ["timeout", "http_error"]


def random_rows(target_id: int, n: int, seed: int) -> list[ProbeRow]:
    """Probes spread over ~10 hours with random outcomes, latencies (some missing) and answers."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        at = T0 + timedelta(seconds=rng.uniform(0, 10 * 3600))
        kind = rng.choice(["health", "predict"])
        outcome = rng.choice(OUTCOMES)
        status = 200 if outcome == "ok" else (None if outcome == "timeout" else rng.choice([200, 500]))
        latency = None if status is None else rng.lognormvariate(4, 1)
        sample = f"s{rng.randrange(12)}" if kind == "predict" else None
        p = rng.random() if kind == "predict" and outcome == "ok" else None
        rows.append(probe(target_id, kind, at, outcome=outcome, status=status, latency_ms=latency,
                          sample_id=sample, probability=p))
    return rows


def by_hand(rows: list[ProbeRow], kind: str, start: datetime, end: datetime) -> ProbeCounts:
    sel = [r for r in rows if r.kind == kind and start <= r.started_at < end]
    lat = [r.latency_ms for r in sel if r.outcome == "ok" and r.latency_ms is not None]  # ok only
    return ProbeCounts(len(sel), sum(r.outcome == "ok" for r in sel), sum(r.status_code == 200 for r in sel),
                       len(lat), sum(lat))


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def load(url: str, rows_for: Callable[[int], list[ProbeRow]], split: int) -> tuple[str, int, list[ProbeRow]]:
    """One target's probes, recorded in two transactions: rollups must add up, not overwrite."""
    with session_scope(url) as s:
        tid = add_target(s, name="t", base_url="http://127.0.0.1:9", registered_at=T0).id
    rows = rows_for(tid)
    for batch in (rows[:split], rows[split:]):
        with session_scope(url) as s:
            record_probes(s, batch)
    return url, tid, rows


# Recording 1,500 probes costs about a second: each backend loads once per module, and the tests
# using these fixtures only read (a test that writes takes its own ``db_url``).
@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def loaded(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, list[ProbeRow]]]:
    with template_copy(request, request.param) as url:
        yield load(url, lambda tid: random_rows(tid, 1500, seed=7), split=700)


def test_rollups_match_raw_rows(loaded: tuple[str, int, list[ProbeRow]]) -> None:
    url, tid, rows = loaded
    hours: dict[tuple[str, datetime], list[ProbeRow]] = defaultdict(list)
    for r in rows:
        hours[(r.kind, hour_floor(r.started_at))].append(r)
    with session_scope(url) as s:
        rollups = {(r.kind, r.bucket_start): r for r in s.scalars(select(ProbeRollup))}
        bins: dict[tuple[str, datetime, float], int] = {
            (b.kind, b.bucket_start, b.le_ms): b.n for b in s.scalars(select(ProbeLatencyBin))
        }
    assert set(rollups) == set(hours)
    want_bins: dict[tuple[str, datetime, float], int] = defaultdict(int)
    for (kind, hour), sel in hours.items():
        got = rollups[(kind, hour)]
        want = by_hand(sel, kind, hour, hour + timedelta(hours=1))
        assert (got.n_total, got.n_ok, got.n_200, got.latency_n) == (
            want.n_total, want.n_ok, want.n_200, want.latency_n)
        assert got.latency_sum_ms == pytest.approx(want.latency_sum_ms)
        for r in sel:
            if r.outcome == "ok" and r.latency_ms is not None:
                want_bins[(kind, hour, latency_bin_edge(r.latency_ms))] += 1
    assert bins == dict(want_bins)


@pytest.mark.parametrize(
    ("start_s", "end_s"),
    [
        (0, 10 * 3600),  # hour-aligned: rollups only
        (1234, 7 * 3600 + 17),  # ragged edges: rollups + raw rows
        (600, 1800),  # inside one hour: raw rows only
        (3 * 3600, 3 * 3600),  # empty
        (-7200, 20 * 3600),  # wider than the data
    ],
)
def test_counts_equal_raw(loaded: tuple[str, int, list[ProbeRow]], start_s: int, end_s: int) -> None:
    url, tid, rows = loaded
    start, end = T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s)
    with session_scope(url) as s:
        for kind in ("health", "predict"):
            got = probe_counts(s, tid, kind, [(start, end)])
            want = by_hand(rows, kind, start, end)
            assert (got.n_total, got.n_ok, got.n_200, got.latency_n) == (
                want.n_total, want.n_ok, want.n_200, want.latency_n)
            assert got.latency_sum_ms == pytest.approx(want.latency_sum_ms)
        lat = [r.latency_ms for r in rows if r.kind == "predict" and start <= r.started_at < end
               and r.outcome == "ok" and r.latency_ms is not None]
        for q in (0.5, 0.95):
            exact, how = latency_percentile_ms(s, tid, "predict", [(start, end)], q)
            binned, how_bins = latency_percentile_ms(s, tid, "predict", [(start, end)], q, exact_max_rows=0)
            if not lat:
                assert exact is None and binned is None
                continue
            assert exact == pytest.approx(nearest_rank(lat, q)) and "exact" in how
            assert binned == pytest.approx(exact, rel=0.10) and "bins" in how_bins


def test_uptime_leaves_out_prober_gaps(db_url: str) -> None:
    with session_scope(db_url) as s:
        tid = add_target(s, name="t", base_url="http://127.0.0.1:9", registered_at=T0).id
        prober_ran(s, T0, T0 + timedelta(hours=2))
        prober_ran(s, T0 + timedelta(hours=3, minutes=30), T0 + timedelta(hours=6))
        rows = [probe(tid, "health", T0 + timedelta(minutes=m)) for m in range(0, 360, 5)]
        # failures only while no prober ran (e.g. a half-written batch): not the target's downtime
        rows += [probe(tid, "health", T0 + timedelta(hours=2, minutes=m), outcome="timeout", status=None,
                       latency_ms=None) for m in range(1, 80, 7)]
        record_probes(s, rows)
    with session_scope(db_url) as s:
        agg = window_aggregates(s, tid, T0 + timedelta(minutes=30), T0 + timedelta(hours=6))
        assert agg.gaps == [(T0 + timedelta(hours=2), T0 + timedelta(hours=3, minutes=30))]
        assert agg.covered_s == pytest.approx(4 * 3600)
        inside = [r for r in rows if T0 + timedelta(minutes=30) <= r.started_at < T0 + timedelta(hours=2)
                  or T0 + timedelta(hours=3, minutes=30) <= r.started_at < T0 + timedelta(hours=6)]
        assert agg.health.n_total == len(inside) and agg.health.n_ok == len(inside)
        hourly = hourly_uptime(s, tid, T0, T0 + timedelta(hours=6))
        assert [h.hour_start for h in hourly] == [T0 + timedelta(hours=h) for h in range(6)]
        assert hourly[2].uptime is not None and hourly[2].uptime < 1.0 and hourly[0].uptime == 1.0
        assert sum(h.n_total for h in hourly) == len(rows)


def test_latest_probabilities(loaded: tuple[str, int, list[ProbeRow]]) -> None:
    url, tid, rows = loaded
    at = T0 + timedelta(hours=8)
    latest: dict[str, tuple[datetime, float]] = {}
    for r in rows:
        if r.kind == "predict" and r.outcome == "ok" and r.started_at < at and r.sample_id:
            assert r.probability is not None
            if r.sample_id not in latest or r.started_at > latest[r.sample_id][0]:
                latest[r.sample_id] = (r.started_at, r.probability)
    want = {k: v for k, (_, v) in latest.items()}
    wanted_ids = [*want, "never-sent"]
    with session_scope(url) as s:
        assert latest_probabilities(s, tid, at) == pytest.approx(want)
        # a short look-back forces the older rows to be read for the samples it missed
        for lookback in (3, 40, 100_000):
            got = latest_probabilities(s, tid, at, sample_ids=wanted_ids, lookback_rows=lookback)
            assert got == pytest.approx(want)
        assert latest_probabilities(s, tid, at, sample_ids=["s1"]) == pytest.approx({"s1": want["s1"]})
        assert latest_probabilities(s, tid, T0) == {}
        assert last_probe_times(s, at) == {tid: max(r.started_at for r in rows if r.started_at < at)}
        assert last_probe_times(s, T0) == {}


def test_latency_series(loaded: tuple[str, int, list[ProbeRow]]) -> None:
    url, tid, rows = loaded
    with session_scope(url) as s:
        series = latency_series(s, tid, T0, T0 + timedelta(hours=10), timedelta(hours=2))
        with pytest.raises(ValueError):
            latency_series(s, tid, T0, T0 + timedelta(hours=10), timedelta(minutes=90))
    assert [p.bucket_start for p in series] == [T0 + timedelta(hours=h) for h in range(0, 10, 2)]
    for point in series:
        lat = [r.latency_ms for r in rows if r.kind == "predict" and r.outcome == "ok"
               and r.latency_ms is not None
               and point.bucket_start <= r.started_at < point.bucket_start + timedelta(hours=2)]
        assert point.n == len(lat) and point.mean_ms == pytest.approx(sum(lat) / len(lat))
        assert point.p50_ms == pytest.approx(nearest_rank(lat, 0.5), rel=0.10)
        assert point.p95_ms == pytest.approx(nearest_rank(lat, 0.95), rel=0.10)


def outcome_hours(target_id: int) -> list[ProbeRow]:
    """Four hours after the random ones, one of each kind the rollups must tell apart."""
    rows = []
    base = T0 + timedelta(hours=10)
    for i in range(30):
        minute = timedelta(minutes=2 * i)
        rows.append(probe(target_id, "predict", base + minute, latency_ms=100.0 + i))  # all ok
        rows.append(probe(target_id, "predict", base + timedelta(hours=1) + minute, outcome="http_error",
                          status=404, latency_ms=5.0))  # answered, none ok
        rows.append(probe(target_id, "predict", base + timedelta(hours=2) + minute, outcome="timeout",
                          status=None, latency_ms=None))  # no answer at all
        ok = i % 3 != 0
        rows.append(probe(target_id, "predict", base + timedelta(hours=3) + minute,
                          outcome="ok" if ok else "bad_body", status=200 if ok else 404,
                          latency_ms=300.0 + i if ok else 2.0))  # mixed
    return rows


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def loaded_with_outcome_hours(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, list[ProbeRow]]]:
    """Like ``loaded`` (other random probes), then ``outcome_hours``: read only, as ``loaded``."""
    with template_copy(request, request.param) as url:
        yield load(url, lambda tid: random_rows(tid, 1500, seed=11) + outcome_hours(tid), split=800)


@pytest.mark.parametrize(
    ("start_s", "end_s"),
    [
        (0, 14 * 3600),  # hour-aligned: pure, nothing-ok, no-answer and mixed hours, all from rollups
        (1234, 13 * 3600 + 600),  # ragged: the mixed hour's first part comes from raw edge rows
        (10 * 3600 + 60, 10 * 3600 + 1800),  # inside the pure hour
        (11 * 3600, 13 * 3600),  # nothing ok at all: zeros, no latency
    ],
)
def test_ok_latency_counts_only_ok_probes(
    loaded_with_outcome_hours: tuple[str, int, list[ProbeRow]], start_s: int, end_s: int
) -> None:
    url, tid, rows = loaded_with_outcome_hours
    start, end = T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s)
    ok = [r.latency_ms for r in rows if r.kind == "predict" and r.outcome == "ok"
          and start <= r.started_at < end and r.latency_ms is not None]
    answered = [r for r in rows if r.kind == "predict" and start <= r.started_at < end
                and r.latency_ms is not None]
    if start_s == 0:  # failed answers with a latency are there, to be left out
        assert len(answered) > len(ok) > 0
    with session_scope(url) as s:
        sums = ok_latency_sums(s, tid, "predict", [(start, end)])
        assert sums.n == len(ok) and sums.sum_ms == pytest.approx(sum(ok))
        agg = window_aggregates(s, tid, start, end)
        assert agg.latency_n == len(ok)
        assert agg.latency_ms == (pytest.approx(sum(ok) / len(ok)) if ok else None)
        assert agg.predict.n_total == sum(
            1 for r in rows if r.kind == "predict" and start <= r.started_at < end)
        for q, statistic in ((0.5, "p50"), (0.95, "p95")):
            exact, how = latency_percentile_ms(s, tid, "predict", [(start, end)], q)
            binned, how_bins = latency_percentile_ms(s, tid, "predict", [(start, end)], q,
                                                     exact_max_rows=0)
            by_statistic = window_aggregates(s, tid, start, end, statistic=statistic)
            if not ok:
                assert exact is None and binned is None and by_statistic.latency_ms is None
                continue
            assert exact == pytest.approx(nearest_rank(ok, q)) and "exact" in how
            assert by_statistic.latency_ms == pytest.approx(exact)
            assert binned == pytest.approx(exact, rel=0.10) and "bins of" in how_bins
    assert LatencySums().mean_ms is None


def test_ok_latency_with_scattered_mixed_hours(db_url: str) -> None:
    with session_scope(db_url) as s:
        tid = add_target(s, name="t", base_url="http://127.0.0.1:9", registered_at=T0).id
    rng = random.Random(5)
    rows = []
    for hour in range(16):  # all ok, mixed, none ok, mixed, ...: eight separate mixed hours
        for i in range(20):
            at = T0 + timedelta(hours=hour, minutes=3 * i)
            ok = hour % 4 == 0 or (hour % 2 == 1 and i % 4 != 0)
            rows.append(probe(tid, "predict", at, outcome="ok" if ok else "http_error",
                              status=200 if ok else 503, latency_ms=rng.uniform(50, 400) if ok else 3.0))
    with session_scope(db_url) as s:
        record_probes(s, rows)
    start, end = T0 + timedelta(minutes=20), T0 + timedelta(hours=15, minutes=40)
    ok_latencies = [r.latency_ms for r in rows if r.outcome == "ok" and start <= r.started_at < end
                    and r.latency_ms is not None]
    with session_scope(db_url) as s:
        sums = ok_latency_sums(s, tid, "predict", [(start, end)])
        assert sums.n == len(ok_latencies) and sums.sum_ms == pytest.approx(sum(ok_latencies))
        for q in (0.05, 0.5, 0.95):
            binned, _ = latency_percentile_ms(s, tid, "predict", [(start, end)], q,
                                              exact_max_rows=0)
            assert binned == pytest.approx(nearest_rank(ok_latencies, q), rel=0.10)
