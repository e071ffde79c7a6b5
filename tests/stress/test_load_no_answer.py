"""Load scenarios (Locust in subprocesses) against targets that never answer well.

What these check is counted, not timed: every request refused, every one timed out, a target
never healthy waited for up to the bound. A busy machine changes none of it, so unlike
test_load.py they run with the parallel tests.
"""

from __future__ import annotations

import pytest

from tests.servers import free_port, uvicorn_thread
from tests.stress.apps import TEST_BARS, never_healthy_app, silent_server
from tests.stress.test_load import run

pytestmark = pytest.mark.slow  # a Locust subprocess each: seconds, not for make test-fast


def test_spike_against_a_dead_port_counts_refusals_not_answers() -> None:
    """The issue's "8898 requests, p95 7 ms" where every connection was refused."""
    evidence = run("spike", f"http://127.0.0.1:{free_port()}").to_dict()["evidence"]
    assert evidence["requests"] > 0
    assert evidence["refused"] == evidence["requests"] and evidence["answered"] == 0
    assert evidence["latency_ms"]["p95"] is None  # no answer, no latency
    assert evidence["rps"] == 0
    assert "not one of" in evidence["summary"] and "refused" in evidence["summary"]


def test_spike_against_a_silent_server_counts_timeouts() -> None:
    with silent_server() as url:
        evidence = run("spike", url).to_dict()["evidence"]
    assert evidence["requests"] > 0
    assert evidence["timeouts"] == evidence["requests"] and evidence["answered"] == 0
    assert evidence["refused"] == 0 and evidence["latency_ms"]["p95"] is None
    assert "timed out" in evidence["summary"]


def test_recovery_reports_not_healthy_only_after_the_bounded_wait() -> None:
    bars = TEST_BARS.with_overrides({"recovery_ready_wait_s": 2.0})
    with uvicorn_thread(never_healthy_app(), timeout_graceful_shutdown=1) as url:
        result = run("recovery", url, bars=bars)
    evidence = result.to_dict()["evidence"]
    assert not result.passed
    assert evidence["summary"].startswith("not healthy before the burst: health: status 503")
    assert evidence["duration_s"] >= 2.0  # waited the bound, did not give up at once
    assert evidence["status_counts"]["503"] > 1
    assert evidence["first_failure"]["response"]["status"] == 503
