"""The three load scenarios (Locust in subprocesses) against healthy and faulty real servers.

Latency bars decide these verdicts, so the module runs alone (conftest.QUIET_MODULES): a busy
machine could fail a healthy server. The runs whose evidence is counts, not latencies, are in
test_load_no_answer.py; faulty servers that a busy machine cannot make pass, in test_load_faulty.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stress.bars import Bars
from stress.context import StressContext
from stress.evidence import ScenarioResult
from stress.scenarios import BY_NAME
from stress.target import TargetSpec
from tests.servers import uvicorn_thread
from tests.stress.apps import (
    TEST_BARS,
    degrading_app,
    flaky_app,
    healthy_app,
)


def run(name: str, url: str, workers: int = 0, bars: Bars = TEST_BARS) -> ScenarioResult:
    return BY_NAME[name].run(StressContext(TargetSpec(url), bars, workers=workers))


@pytest.fixture(scope="module")
def healthy_url() -> Iterator[str]:
    with uvicorn_thread(healthy_app(), timeout_graceful_shutdown=1) as url:
        yield url


@pytest.mark.parametrize("name", ["spike", "recovery", "slow_clients"])
def test_healthy_server_passes(name: str, healthy_url: str) -> None:
    result = run(name, healthy_url)
    evidence = result.to_dict()["evidence"]
    assert result.passed, evidence
    assert evidence["requests"] > 0 and evidence["status_counts"].get("200", 0) > 0
    assert evidence["latency_ms"]["p95"] is not None
    assert evidence["first_failure"] is None
    assert evidence["answered"] == evidence["requests"]
    assert evidence["refused"] == evidence["timeouts"] == evidence["transport_errors"] == 0


def test_a_server_that_never_recovers_fails_recovery() -> None:
    """Load-sensitive the other way: the server trips only after enough requests of the burst,
    which a busy machine might not send, so this failure is checked here, alone."""
    with uvicorn_thread(degrading_app(), timeout_graceful_shutdown=1) as url:
        result = run("recovery", url)
    evidence = result.to_dict()["evidence"]
    assert not result.passed, evidence
    assert "not back to normal" in evidence["summary"], evidence["summary"]
    assert evidence["first_failure"] is not None
    assert evidence["first_failure"]["curl"].startswith("curl ")


@pytest.mark.parametrize("first_503_on", ["/health", "/predict"])
def test_recovery_waits_for_a_target_that_answers_one_503_before_the_burst(first_503_on: str) -> None:
    with uvicorn_thread(flaky_app(first_503_on=first_503_on), timeout_graceful_shutdown=1) as url:
        result = run("recovery", url)
    evidence = result.to_dict()["evidence"]
    assert result.passed, evidence["summary"]
    assert evidence["status_counts"]["503"] == 1  # the 503 was seen and counted, then waited out
    assert evidence["ready_after_s"] is not None and evidence["ready_after_s"] > 0


def test_spike_on_locust_distributed_mode(healthy_url: str) -> None:
    """--workers 1: a Locust master and one worker on loopback, stats merged on the master."""
    result = run("spike", healthy_url, workers=1)
    evidence = result.to_dict()["evidence"]
    assert result.passed, evidence
    assert evidence["workers"] == 1 and evidence["requests"] > 0
