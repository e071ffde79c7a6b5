"""Overload is visible, never charged (issue 17).

A prober given more work than it can do (one probe at a time against slow targets), or whose
event loop is blocked on purpose, marks the probes it started late (and those in flight while
its loop stalled) with ``prober_late_ms``; it says so in a metric, one log line per minute and
its heartbeat row (what the dashboard's banner reads); and the window counts that grading uses
leave those probes out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from probes.runner import Prober
from storage.engine import session_scope
from storage.models import ProberSession
from storage.probes import prober_lateness_now
from storage.windows import window_aggregates
from tests.probes.helpers import load_eval, make_settings, register, rows_of, run_prober
from tests.probes.targets_app import SLOW_DELAY_S, FarmState, create_farm
from tests.servers import uvicorn_thread

LATE_AFTER_S = 0.1
STALL_S = 0.2  # the stalled-loop test's bound: a loop this late is a stall
# One slow target fits (2 probes of 0.15 s per 0.5 s, one at a time); six are 3.6x more than fits.
SLOW_TARGETS = 6


def late_probes_counter() -> float:
    return REGISTRY.get_sample_value("clfwatch_prober_late_probes_total") or 0.0


def exported_probes(targets: set[str]) -> tuple[float, float]:
    """(probes counted, latencies observed) in the targets' exported series: what Prometheus's
    alerts and the Live page read of them."""
    counted = observed = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.labels.get("target") not in targets:
                continue
            if sample.name == "clfwatch_probes_total":
                counted += sample.value
            elif sample.name == "clfwatch_probe_latency_seconds_count":
                observed += sample.value
    return counted, observed


def test_an_overloaded_prober_marks_its_late_probes_and_they_are_not_graded(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_eval(sqlite_url)
    before = late_probes_counter()
    names = {f"slow{i}" for i in range(SLOW_TARGETS)}
    exported_before = exported_probes(names)
    state = FarmState()
    with uvicorn_thread(create_farm(state)) as base:
        ids = [register(sqlite_url, "slow0", f"{base}/slow")]
        settings = make_settings(
            sqlite_url, tmp_path, probe_concurrency=1, probe_late_after_s=LATE_AFTER_S,
            probe_timeout_s=2.0,
        )
        banner: list[object] = []

        async def watch(prober: Prober) -> None:
            await asyncio.sleep(1.5)  # on time so far; then given more targets than it can serve
            ids.extend(register(sqlite_url, f"slow{i}", f"{base}/slow") for i in range(1, SLOW_TARGETS))
            await asyncio.sleep(3.0)
            await prober.writer.flush()
            since = datetime.now(UTC) - timedelta(seconds=30)
            with session_scope(sqlite_url) as session:
                banner.append(prober_lateness_now(session, seen_since=since, late_since=since))

        with caplog.at_level(logging.WARNING, logger="probes.runner"):
            prober = run_prober(settings, 5.0, during=watch, reload_every_s=0.25)

    rows = [r for tid in ids for r in rows_of(sqlite_url, tid)]
    late = [r for r in rows if r.prober_late_ms is not None]
    on_time = [r for r in rows if r.prober_late_ms is None]
    assert late and on_time, (len(late), len(on_time))
    assert all(r.prober_late_ms > LATE_AFTER_S * 1000 for r in late)
    assert prober.stats.late == len(late) and prober.stats.skipped > 0  # queued without bound: no
    # The late ones are measurements all the same: the slow target answered them.
    assert all(r.latency_ms is None or r.latency_ms >= SLOW_DELAY_S * 1000 for r in late)

    # Visible: a metric, one log line (not one per late probe), the heartbeat row.
    assert late_probes_counter() - before == len(late)
    behind = [r for r in caplog.records if "event=prober_behind" in r.getMessage()]
    assert len(behind) == 1, [r.getMessage() for r in behind]
    assert banner and banner[0] is not None
    with session_scope(sqlite_url) as session:
        beat = session.get(ProberSession, prober.session_id)
        assert beat is not None and beat.late_probes == len(late) and beat.late_at is not None

    # Never charged: the counts grading reads hold the on-time probes only.
    start, end = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1)
    with session_scope(sqlite_url) as session:
        counted = sum(
            agg.health.n_total + agg.predict.n_total
            for agg in (window_aggregates(session, tid, start, end, coverage=[(start, end)]) for tid in ids)
        )
    assert counted == len(on_time)
    # Nor in the targets' exported series, which Prometheus alerts on ("target down").
    exported = exported_probes(names)
    answered_on_time = [r for r in on_time if r.latency_ms is not None]
    assert (exported[0] - exported_before[0], exported[1] - exported_before[1]) == (
        len(on_time), len(answered_on_time))


async def watch_loop(stalls: list[tuple[datetime, datetime]], every_s: float = 0.05) -> None:
    """Note each time this loop woke more than ``STALL_S`` after it asked to: an outside record
    of the loop's stalls (ours on purpose, or a loaded machine's) to check the marks against."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(every_s)
        lag_s = time.monotonic() - asked - every_s
        if lag_s > STALL_S:
            now = datetime.now(UTC)
            stalls.append((now - timedelta(seconds=lag_s), now))


def test_a_stalled_loop_marks_the_probes_it_delayed(sqlite_url: str, tmp_path: Path) -> None:
    load_eval(sqlite_url)
    state = FarmState()
    stall: dict[str, datetime] = {}
    stalls: list[tuple[datetime, datetime]] = []
    with uvicorn_thread(create_farm(state)) as base:  # the farm runs in its own thread's loop
        tid = register(sqlite_url, "healthy", f"{base}/healthy")
        settings = make_settings(sqlite_url, tmp_path, probe_late_after_s=STALL_S)

        async def block(prober: Prober) -> None:
            watchdog = asyncio.create_task(watch_loop(stalls))
            await asyncio.sleep(1.6)
            stall["from"] = datetime.now(UTC)
            time.sleep(0.9)  # a blocked event loop: nothing can be sent or read on time
            stall["until"] = datetime.now(UTC)
            await asyncio.sleep(1.6)
            watchdog.cancel()

        run_prober(settings, 5.0, during=block)

    rows = rows_of(sqlite_url, tid)
    late = [r for r in rows if r.prober_late_ms is not None]
    assert late, [(r.started_at, r.prober_late_ms) for r in rows]
    assert all(r.prober_late_ms >= 200 for r in late)
    # Marked: probes around our stall, and around any other stall the watchdog saw (a loaded
    # machine can stall a process too); those well before and well after it are on time.
    margin = timedelta(seconds=0.6)
    assert any(stall["from"] - margin <= r.started_at <= stall["until"] + margin for r in late)
    for r in late:
        assert any(a - margin <= r.started_at <= b + margin for a, b in stalls), (r.started_at, stalls)
    assert any(r.started_at < stall["from"] - margin and r.prober_late_ms is None for r in rows)
    assert any(r.started_at > stall["until"] + margin and r.prober_late_ms is None for r in rows)
