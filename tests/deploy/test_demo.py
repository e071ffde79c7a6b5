"""The demo targets of ``make up`` follow the classifier contract and misbehave as documented."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from clfwatch.demo import (
    FLAKY_FAIL_SHARE,
    FLAKY_OUTAGE_S,
    FLAKY_PERIOD_S,
    MAX_BODY_BYTES,
    SLOW_MIN_DELAY_S,
    Misbehaviour,
    create_demo_app,
    length_probability,
)
from tests.conftest import REPO_ROOT, free_port
from tests.servers import uvicorn_thread

HEALTHCHECK = REPO_ROOT / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def slow_url() -> Iterator[str]:
    with uvicorn_thread(create_demo_app("slow")) as url:
        yield url


@pytest.fixture(scope="module")
def flaky_url() -> Iterator[str]:
    with uvicorn_thread(create_demo_app("flaky")) as url:
        yield url


def test_slow_answers_the_contract_slowly(slow_url: str) -> None:
    started = time.monotonic()
    r = httpx.post(f"{slow_url}/predict", json={"id": "a-1", "text": "hello there"}, timeout=5)
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "a-1" and 0.0 <= body["probability"] <= 1.0
    assert elapsed >= SLOW_MIN_DELAY_S
    health = httpx.get(f"{slow_url}/health", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"\xff\xfe", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 422),
        (b'{"text": "no id"}', {"content-type": "application/json"}, 422),
        (b'{"id": "x", "text": 5}', {"content-type": "application/json"}, 422),
        (b'{"id": "", "text": "empty id"}', {"content-type": "application/json"}, 422),
        (
            b'{"id": "x", "text": "' + b"a" * (MAX_BODY_BYTES + 1) + b'"}',
            {"content-type": "application/json"},
            413,
        ),
        (b"", {"content-type": "application/json"}, 400),
    ],
    ids=["broken", "not-utf8", "array", "no-id", "text-int", "empty-id", "huge", "empty"],
)
def test_client_errors_are_4xx_with_detail(
    slow_url: str, content: bytes, headers: dict[str, str], status: int
) -> None:
    r = httpx.post(f"{slow_url}/predict", content=content, headers=headers, timeout=10)
    assert r.status_code == status
    assert set(r.json()) == {"detail"}


def test_unknown_path_and_method_are_4xx(slow_url: str) -> None:
    assert httpx.get(f"{slow_url}/nope", timeout=5).status_code == 404
    assert httpx.get(f"{slow_url}/predict", timeout=5).status_code == 405


def test_flaky_fails_some_but_not_all(flaky_url: str) -> None:
    statuses = [httpx.get(f"{flaky_url}/health", timeout=5).status_code for _ in range(80)]
    assert set(statuses) == {200, 503}
    r = httpx.post(f"{flaky_url}/predict", json={"id": "b", "text": "x"}, timeout=5)
    assert r.status_code in (200, 503)


def test_flaky_pattern_is_deterministic_and_near_its_share() -> None:
    a, b = Misbehaviour("flaky", seed=3, started_at=0.0), Misbehaviour("flaky", seed=3, started_at=0.0)
    first = [a.fails(now=1.0) for _ in range(400)]
    assert first == [b.fails(now=1.0) for _ in range(400)]
    share = sum(first) / len(first)
    assert FLAKY_FAIL_SHARE / 2 < share < FLAKY_FAIL_SHARE * 2


@pytest.mark.parametrize(
    ("offset_s", "down"),
    [
        (0.0, False),
        (FLAKY_PERIOD_S - FLAKY_OUTAGE_S - 0.1, False),
        (FLAKY_PERIOD_S - FLAKY_OUTAGE_S + 0.1, True),
        (FLAKY_PERIOD_S - 0.1, True),
        (FLAKY_PERIOD_S + 0.1, False),
        (2 * FLAKY_PERIOD_S - 1.0, True),
    ],
)
def test_flaky_outage_schedule(offset_s: float, down: bool) -> None:
    flaky = Misbehaviour("flaky", started_at=100.0)
    assert flaky.in_outage(now=100.0 + offset_s) is down
    if down:
        assert all(flaky.fails(now=100.0 + offset_s) for _ in range(20))


def test_slow_never_fails_and_flaky_is_never_slow() -> None:
    slow, flaky = Misbehaviour("slow"), Misbehaviour("flaky")
    assert not any(slow.fails() for _ in range(100))
    assert all(0.2 <= slow.delay_s() <= 0.4 for _ in range(100))
    assert flaky.delay_s() == 0.0


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown demo kind"):
        Misbehaviour("sleepy")


@pytest.mark.parametrize(("short", "long"), [("hi", "a " * 40), ("buy now", "word " * 13)])
def test_length_rule_scores_long_texts_higher(short: str, long: str) -> None:
    assert 0.0 <= length_probability(short) < length_probability(long) <= 1.0


def test_module_refuses_an_unknown_kind() -> None:
    r = subprocess.run([sys.executable, "-m", "clfwatch.demo", "sleepy"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"invalid choice" in r.stderr


# --- docker/healthcheck.py: what every compose healthcheck runs -------------------------------


def _status_app(status: int) -> FastAPI:
    app = FastAPI()

    @app.get("/h")
    def h() -> JSONResponse:
        return JSONResponse({"status": "x"}, status_code=status)

    return app


def _healthcheck(*args: str) -> int:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args], capture_output=True, timeout=30
    ).returncode


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1), (404, 1), (500, 1)])
def test_healthcheck_script_exit_codes(status: int, code: int) -> None:
    with uvicorn_thread(_status_app(status)) as url:
        assert _healthcheck(f"{url}/h") == code


@pytest.mark.parametrize("args", [[], ["a", "b"]])
def test_healthcheck_script_usage(args: list[str]) -> None:
    assert _healthcheck(*args) == 2


def test_healthcheck_script_on_a_closed_port() -> None:
    assert _healthcheck(f"http://127.0.0.1:{free_port()}/health") == 1
    assert Path(HEALTHCHECK).is_file()


def test_make_up_runs_the_demo_llm_beside_the_demo_classifiers() -> None:
    """The demo LLM is a child of `make up` like the slow and flaky demos (tests/llm tests the server,
    tests/deploy/test_make_up.py the whole start)."""
    from clfwatch.up import plan

    ports = plan.Ports(service=18080, slow=18081, flaky=18082, llm=18300, prober_metrics=19101, api=18088,
                       dashboard=18501, evidently=18502, prometheus=None)
    first, _ = plan.child_specs("127.0.0.1", ports, None)
    by_name = {spec.name: spec for spec in first}
    llm = by_name["demo-llm"]
    assert llm.argv[-6:] == ["service", "llm", "--host", "127.0.0.1", "--port", "18300"]
    assert (llm.base_url, llm.ready_path, llm.ready_needs_200) == ("http://127.0.0.1:18300", "/health", True)
    assert {"demo-slow", "demo-flaky"} <= set(by_name)
    assert ports.by_flag()["llm"] == 18300  # --llm-port, checked for being free like the others
