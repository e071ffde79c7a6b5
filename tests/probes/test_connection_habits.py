"""Soak: a healthy target is never charged a failure for how its server treats connections.

Issue 12: with pooled connections, a probe sent in the millisecond a target's server timed
out the kept connection died as "connection dropped mid-answer", and a server that forgot
an idle connection silently made the next probe time out. Every probe now opens its own
connection. Here six targets of each server habit are probed every 2 s, so a target's health
and predict probes are 1 s apart and two probes of one kind 2 s apart, and every one of their
probes must be ok, while a server that resets halfway through its answer is still recorded as
failing. The servers' timeouts are scaled to those gaps (the hazard is a probe meeting a
timeout, whatever its length): keep-alive timeouts of exactly 1 s (the reference service) and
2 s (as gunicorn), one shorter and one longer (75 s, as nginx) than both gaps, and a connection
forgotten after 1.5 s idle, between the two.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from core.contract import Outcome
from service.app import create_app
from tests.probes.habits import SILENT_AFTER_IDLE_S, RawServer, uvicorn_keepalive
from tests.probes.helpers import load_eval, make_settings, register, rows_of, run_prober
from tests.reference import reference_settings
from tests.servers import uvicorn_thread

TARGETS_PER_HABIT = 6
INTERVAL_S = 2.0
ROUNDS = 10  # probes of each kind expected per target, at least
# Longer than production's (2 s of 10 s): the test runs beside make test's parallel step, and a
# healthy server in this loaded process once took over 1.5 s to answer, a timeout of the machine's
# making. The hazards stay caught whatever the timeout: a swallowed reused connection is never
# answered (a timeout), a connection closed as the request arrives is an error at once.
PROBE_TIMEOUT_S = 6.0


@pytest.fixture(scope="module")
def habit_urls(trained_model_dir: Path) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        urls = {
            "reference (uvicorn, 1 s keep-alive: the health-to-predict gap)": stack.enter_context(
                uvicorn_thread(create_app(reference_settings(trained_model_dir)), timeout_keep_alive=1.0)
            ),
            "uvicorn 0.5 s keep-alive": stack.enter_context(uvicorn_keepalive(0.5)),
            "uvicorn 2 s keep-alive (gunicorn: the interval)": stack.enter_context(uvicorn_keepalive(2.0)),
            "uvicorn 75 s keep-alive (nginx)": stack.enter_context(uvicorn_keepalive(75.0)),
            "Connection: close": stack.enter_context(RawServer("close")),
            f"silent after {SILENT_AFTER_IDLE_S} s idle": stack.enter_context(RawServer("silent")),
        }
        yield urls


@pytest.mark.slow
def test_no_healthy_target_is_charged_for_its_connection_habits(
    habit_urls: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    load_eval(sqlite_url)
    healthy: dict[int, str] = {}
    for h, (habit, url) in enumerate(habit_urls.items()):
        for i in range(TARGETS_PER_HABIT):
            healthy[register(sqlite_url, f"habit{h}-{i}", url)] = habit
    with RawServer("reset_half") as reset_url:
        broken = register(sqlite_url, "resets-mid-answer", reset_url)
        settings = make_settings(
            sqlite_url, tmp_path, probe_interval_s=INTERVAL_S, probe_timeout_s=PROBE_TIMEOUT_S
        )
        run_prober(settings, seconds=INTERVAL_S * (ROUNDS + 1) + 0.5)

    failures: Counter[tuple[str, str, str]] = Counter()
    for target_id, habit in healthy.items():
        for kind in ("health", "predict"):
            rows = rows_of(sqlite_url, target_id, kind)
            assert len(rows) >= ROUNDS, (habit, kind, len(rows))
            # What a grade counts: a probe the prober started late is its own lateness, never charged.
            failed = [r for r in rows if r.outcome != Outcome.OK and r.prober_late_ms is None]
            failures.update((habit, kind, f"{r.outcome}: {r.detail}") for r in failed)
    assert not failures, f"healthy targets charged with failures: {dict(failures)}"

    broken_rows = rows_of(sqlite_url, broken)
    assert len(broken_rows) >= 2 * ROUNDS
    outcomes = Counter(r.outcome for r in broken_rows)
    assert set(outcomes) == {Outcome.PROTOCOL_ERROR}, outcomes


def test_the_silent_server_really_swallows_a_reused_connection() -> None:
    """The habit above is real: a client that keeps the connection waits out its timeout."""

    async def reuse_after_idle(url: str) -> BaseException | None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            assert (await client.get(f"{url}/health")).status_code == 200
            await asyncio.sleep(SILENT_AFTER_IDLE_S + 0.5)
            try:
                await client.get(f"{url}/health")
            except httpx.HTTPError as exc:
                return exc
        return None

    with RawServer("silent") as url:
        error = asyncio.run(reuse_after_idle(url))
    assert isinstance(error, httpx.ReadTimeout), error
