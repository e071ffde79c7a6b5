"""The prober against real misbehaving targets on loopback: what it records matches what they did."""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from probes.runner import Prober
from storage.engine import engine_for, session_scope, upgrade_database
from storage.targets import update_target
from tests.conftest import free_port
from tests.probes.helpers import (
    EVAL_ROWS,
    load_eval,
    make_settings,
    register,
    rows_of,
    run_prober,
)
from tests.probes.targets_app import (
    SLOW_DELAY_S,
    TEMPLATE,
    TEMPLATE_POINTER,
    TOKEN,
    FarmState,
    _probability,
    create_farm,
    huge_server,
)
from tests.servers import uvicorn_thread

# The farm run hosts a dozen targets, a gigabyte streamer and the prober in one process:
# twice the module-wide interval and timeout, so a stall of the test process itself is not
# read as a target's timeout (production: 2 s of 10 s).
FARM_INTERVAL_S = 1.0
FARM_TIMEOUT_S = 0.8
RUN_S = 6.4
FLAP_EVERY_S = 0.7
CAP_BYTES = 8192
# Kernel socket buffers on loopback accept a few MB per answer before backpressure stops
# the server; the prober itself reads only up to the cap. A gigabyte read in full is 1024 MB.
HUGE_SENT_PER_ANSWER_MAX_BYTES = 16 * 1024 * 1024


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class FarmRun:
    url: str
    ids: dict[str, int]
    state: FarmState
    prober: Prober
    log_lines: list[str]


@pytest.fixture(scope="module")
def farm_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FarmRun]:
    tmp = tmp_path_factory.mktemp("farm")
    url = f"sqlite:///{tmp / 'clfwatch.db'}"
    upgrade_database(url)
    load_eval(url)
    state = FarmState()
    handler = ListHandler()
    logging.getLogger().addHandler(handler)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        with uvicorn_thread(create_farm(state)) as base, huge_server(state) as huge_base:
            ids = {
                name: register(url, name, f"{base}/{name}")
                for name in ("healthy", "slow", "flap", "garbage", "hang", "nan")
            }
            ids["huge"] = register(url, "huge", huge_base)
            ids["down"] = register(url, "down", f"http://127.0.0.1:{free_port()}")
            ids["token"] = register(url, "token", f"{base}/token", token=TOKEN)
            ids["token-missing"] = register(url, "token-missing", f"{base}/token")
            ids["templated"] = register(
                url, "templated", f"{base}/templated",
                request_template=TEMPLATE, probability_pointer=TEMPLATE_POINTER,
            )
            settings = make_settings(
                url, tmp, probe_max_body_bytes=CAP_BYTES,
                probe_interval_s=FARM_INTERVAL_S, probe_timeout_s=FARM_TIMEOUT_S,
            )

            async def flapping(prober: Prober) -> None:
                loop = asyncio.get_running_loop()
                end = loop.time() + RUN_S
                while loop.time() < end:
                    await asyncio.sleep(FLAP_EVERY_S)
                    state.flap_up = not state.flap_up

            prober = run_prober(settings, RUN_S, during=flapping)
        yield FarmRun(url, ids, state, prober, handler.lines)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(old_level)
        engine_for(url).dispose()


def outcomes(run: FarmRun, name: str, kind: str) -> list[str]:
    return [r.outcome for r in rows_of(run.url, run.ids[name], kind)]


def test_every_probe_sent_is_written(farm_run: FarmRun) -> None:
    total = sum(len(rows_of(farm_run.url, tid)) for tid in farm_run.ids.values())
    assert total == farm_run.prober.stats.sent == farm_run.prober.writer.stats.written
    # About RUN_S / interval probes per target and kind: neither lockstep bursts nor silence.
    for name, tid in farm_run.ids.items():
        for kind in ("health", "predict"):
            assert 4 <= len(rows_of(farm_run.url, tid, kind)) <= 8, (name, kind)


@pytest.mark.parametrize(
    ("name", "health", "predict"),
    [
        ("healthy", "ok", "ok"),
        ("slow", "ok", "ok"),
        ("down", "connect_error", "connect_error"),
        ("garbage", "bad_body", "bad_body"),
        ("huge", "too_large", "too_large"),
        ("hang", "timeout", "timeout"),
        ("nan", "ok", "bad_body"),
        ("token", "ok", "ok"),
        ("token-missing", "http_error", "http_error"),
        ("templated", "ok", "ok"),
    ],
)
def test_outcomes_match_what_each_target_did(farm_run: FarmRun, name: str, health: str, predict: str) -> None:
    assert set(outcomes(farm_run, name, "health")) == {health}
    assert set(outcomes(farm_run, name, "predict")) == {predict}


def test_answered_rows_carry_status_and_latency(farm_run: FarmRun) -> None:
    for row in rows_of(farm_run.url, farm_run.ids["healthy"]):
        assert row.status_code == 200 and row.latency_ms is not None and 0 < row.latency_ms < 500
    for name in ("down", "hang"):
        for row in rows_of(farm_run.url, farm_run.ids[name]):
            assert row.status_code is None and row.latency_ms is None and row.detail
    for row in rows_of(farm_run.url, farm_run.ids["token-missing"]):
        assert (row.status_code, row.detail) == (401, "status 401")


def test_slow_target_latency_matches_the_injected_delay(farm_run: FarmRun) -> None:
    latencies = [r.latency_ms for r in rows_of(farm_run.url, farm_run.ids["slow"]) if r.latency_ms]
    assert len(latencies) >= 8
    delay_ms = SLOW_DELAY_S * 1000
    assert min(latencies) >= delay_ms
    assert statistics.median(latencies) - delay_ms < 10.0, latencies


def test_timeout_is_bounded_by_the_setting(farm_run: FarmRun) -> None:
    rows = rows_of(farm_run.url, farm_run.ids["hang"])
    assert rows and all(r.outcome == "timeout" for r in rows)
    # The hanging target sleeps 5 s of a 6.4 s run. Only a timeout of FARM_TIMEOUT_S ends each
    # probe in time for the next: then it gets as many probes as the healthy one (give or take the
    # one in flight at shutdown); unbounded probes would leave at most two per kind.
    for kind in ("health", "predict"):
        hung = rows_of(farm_run.url, farm_run.ids["hang"], kind)
        healthy = rows_of(farm_run.url, farm_run.ids["healthy"], kind)
        assert len(healthy) >= 5 and len(hung) >= len(healthy) - 1, (kind, len(hung), len(healthy))


def test_flapping_target_is_recorded_as_it_flapped(farm_run: FarmRun) -> None:
    for kind in ("health", "predict"):
        served = [status for name, k, _t, status in farm_run.state.log if name == "flap" and k == kind]
        rows = rows_of(farm_run.url, farm_run.ids["flap"], kind)
        assert [r.status_code for r in rows] == served
        assert [r.outcome for r in rows] == ["ok" if s == 200 else "http_error" for s in served]
    both = outcomes(farm_run, "flap", "health") + outcomes(farm_run, "flap", "predict")
    assert {"ok", "http_error"} <= set(both)


def test_huge_body_costs_kilobytes(farm_run: FarmRun) -> None:
    rows = rows_of(farm_run.url, farm_run.ids["huge"])
    assert rows and all(r.detail == f"body over {CAP_BYTES} bytes" for r in rows)
    # Every probe stopped reading early: far less than one gigabyte per probe went out.
    assert farm_run.state.huge_answers == len(rows)
    assert farm_run.state.huge_bytes_sent / len(rows) < HUGE_SENT_PER_ANSWER_MAX_BYTES


def test_predict_probes_cycle_the_eval_set_and_store_probabilities(farm_run: FarmRun) -> None:
    ids = {sample_id for sample_id, _text, _label in EVAL_ROWS}
    rows = rows_of(farm_run.url, farm_run.ids["healthy"], "predict")
    assert {r.sample_id for r in rows} == ids  # 5 samples, at least 5 predict probes
    for r in rows:
        assert r.probability == pytest.approx(_probability(r.sample_id or ""))
    for r in rows_of(farm_run.url, farm_run.ids["templated"], "predict"):
        assert r.probability == pytest.approx(_probability(r.sample_id or ""))


def test_template_bodies_arrive_intact(farm_run: FarmRun) -> None:
    texts = {sample_id: text for sample_id, text, _label in EVAL_ROWS}
    bodies = farm_run.state.templated_bodies
    assert bodies
    for body in bodies:
        ref = body["input"]["ref"]
        assert body["input"]["body"] == texts[ref]
        assert body["note"] == f"id={ref}"


def test_failures_are_logged_one_line_each_and_the_token_never(farm_run: FarmRun) -> None:
    lines = farm_run.log_lines
    assert not any(TOKEN in line for line in lines)
    failed = [line for line in lines if "event=probe_failed" in line]
    down = [line for line in failed if "target=down " in line]
    assert len(down) == len(rows_of(farm_run.url, farm_run.ids["down"]))
    assert all("kind=" in line and "outcome=connect_error" in line for line in down)
    assert not any("target=healthy " in line for line in failed)
    assert any("event=summary" in line and "sent=" in line and "spilled=" in line for line in lines)


def test_metrics_count_probes_by_target_and_outcome(farm_run: FarmRun) -> None:
    sent = REGISTRY.get_sample_value(
        "clfwatch_probes_total", {"target": "healthy", "kind": "health", "outcome": "ok"}
    )
    assert sent is not None and sent >= len(rows_of(farm_run.url, farm_run.ids["healthy"], "health"))
    assert REGISTRY.get_sample_value(
        "clfwatch_probe_latency_seconds_count", {"target": "slow", "kind": "predict"}
    )
    assert REGISTRY.get_sample_value(
        "clfwatch_probe_last_timestamp_seconds", {"target": "down", "kind": "health"}
    )


def test_targets_are_reloaded_without_restart(tmp_path: Path, sqlite_url: str) -> None:
    state = FarmState()
    with uvicorn_thread(create_farm(state)) as base:
        first = register(sqlite_url, "first", f"{base}/healthy")
        settings = make_settings(sqlite_url, tmp_path)
        marks: dict[str, float] = {}

        async def change(prober: Prober) -> None:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(1.2)
            # New target; the first one moves to a garbage URL and gets a token; then switched off.
            register(sqlite_url, "second", f"{base}/healthy")
            with session_scope(sqlite_url) as session:
                update_target(session, "first", base_url=f"{base}/token", token=TOKEN)
            marks["changed"] = loop.time()
            await asyncio.sleep(1.5)
            with session_scope(sqlite_url) as session:
                update_target(session, "second", active=False)
            await asyncio.sleep(1.5)

        run_prober(settings, 5, during=change, reload_every_s=0.25)
        second = [r for r in state.log if r[0] == "healthy"]
    token_rows = [r for r in state.log if r[0] == "token"]
    assert token_rows and all(status == 200 for *_rest, status in token_rows)  # new URL and token used
    first_rows = rows_of(sqlite_url, first)
    assert {r.outcome for r in first_rows} == {"ok"}
    assert len(first_rows) >= 14  # kept probing through the change: ~5 s at 0.5 s, two kinds
    second_id = max(first + 1, 2)
    second_rows = rows_of(sqlite_url, second_id)
    assert 2 <= len(second_rows) <= 10  # picked up, then dropped after ~1.5 s
    last_second = max(r.started_at for r in second_rows)
    assert max(r.started_at for r in first_rows) - last_second > __import__("datetime").timedelta(seconds=1)
    assert second  # the farm saw the healthy path while both were registered


def test_stopping_lets_the_probes_in_flight_finish(sqlite_url: str, tmp_path: Path) -> None:
    """A stop while a target is still answering records that probe instead of dropping it.

    (The prober waits for its probes in flight, bounded by the timeout, before it closes.)
    """
    state = FarmState()
    with uvicorn_thread(create_farm(state)) as base:
        tid = register(sqlite_url, "slow", f"{base}/slow")

        async def stop_mid_probe(prober: Prober) -> None:
            for _ in range(2000):  # at most ~10 s
                if any(not task.done() for task in prober._tasks):
                    return  # a probe is waiting for the slow answer right now: stop
                await asyncio.sleep(0.005)
            raise AssertionError("no probe was ever in flight")

        prober = run_prober(make_settings(sqlite_url, tmp_path), 10.0, during=stop_mid_probe)
    rows = rows_of(sqlite_url, tid)
    assert len(rows) == prober.stats.sent == len(state.log) >= 1
    assert {r.outcome for r in rows} == {"ok"}
