"""The seven crafted scenarios against real servers: the healthy one passes, each faulty one fails."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.contract import REASON_OUT_OF_RANGE
from stress.context import StressContext
from stress.evidence import ScenarioResult
from stress.scenarios import BY_NAME
from stress.target import TargetSpec
from tests.servers import uvicorn_thread
from tests.stress.apps import (
    TEST_BARS,
    ascii_only_app,
    catch_all_500_app,
    contract_faulty_app,
    healthy_app,
    huge_slow_app,
    naive_app,
    raw_server,
    score_text,
    sql_app,
)

CRAFTED = [
    "contract",
    "malformed_json",
    "schema_violations",
    "huge_payload",
    "unicode_edge",
    "injection",
    "http_abuse",
]


def run(name: str, url: str, **spec: Any) -> ScenarioResult:
    return BY_NAME[name].run(StressContext(TargetSpec(url, **spec), TEST_BARS))


def assert_evidence_shape(result: ScenarioResult) -> None:
    evidence = result.to_dict()["evidence"]
    assert evidence["requests"] == sum(evidence["status_counts"].values()) > 0
    assert set(evidence["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert evidence["summary"]
    if result.passed:
        assert evidence["first_failure"] is None
    else:
        failure = evidence["first_failure"]
        assert failure["reason"] and failure["request"]["url"].startswith("http://127.0.0.1:")
        assert len((failure["response"] or {}).get("body", "")) <= 540  # cut short
        assert re.match(r"^(curl |printf |python3 -c )", failure["curl"]), failure["curl"]


@pytest.fixture(scope="module")
def healthy_url() -> Iterator[str]:
    with uvicorn_thread(healthy_app(), timeout_graceful_shutdown=1) as url:
        yield url


@pytest.mark.parametrize("name", CRAFTED)
def test_healthy_server_passes(name: str, healthy_url: str) -> None:
    result = run(name, healthy_url)
    assert result.passed, result.to_dict()["evidence"]
    assert_evidence_shape(result)


def _leaky_naive() -> FastAPI:
    return naive_app(leak_traceback=True)


FAULTY: list[tuple[str, Callable[[], FastAPI], str]] = [
    ("contract", contract_faulty_app, REASON_OUT_OF_RANGE),
    ("malformed_json", naive_app, "server error 500"),
    ("malformed_json", _leaky_naive, "leaks internals (stack_trace"),
    ("schema_violations", naive_app, "server error 500"),
    ("schema_violations", _leaky_naive, "leaks internals (stack_trace"),
    ("huge_payload", huge_slow_app, "10 MB text: no answer within 4 s"),
    ("unicode_edge", ascii_only_app, "server error 500"),
    ("injection", lambda: sql_app(status=500), "leaks internals (sql"),
    ("injection", lambda: sql_app(status=400), "leaks internals (sql"),
    ("http_abuse", catch_all_500_app, "server error 500"),
]


@pytest.mark.parametrize(
    ("name", "factory", "reason"), FAULTY, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(FAULTY)]
)
def test_faulty_server_fails(name: str, factory: Callable[[], FastAPI], reason: str) -> None:
    with uvicorn_thread(factory(), timeout_graceful_shutdown=1) as url:
        result = run(name, url)
    assert not result.passed
    assert reason in result.evidence["first_failure"]["reason"], result.evidence["first_failure"]
    assert_evidence_shape(result)


@pytest.mark.parametrize(
    "early_413_over", [5 * 1024 * 1024, 512 * 1024], ids=["413-for-10MB", "413-for-both"]
)
def test_huge_payload_passes_a_server_that_answers_413_early_and_closes(early_413_over: int) -> None:
    """A server answering 413 without reading the upload (as proxies do) must pass."""
    with raw_server(early_413_over=early_413_over) as url:
        result = run("huge_payload", url)
    assert result.passed, result.evidence
    assert result.status_counts["413"] >= 1


def test_curl_command_reproduces_the_failure() -> None:
    with uvicorn_thread(naive_app(), timeout_graceful_shutdown=1) as url:
        result = run("malformed_json", url)
        command = result.evidence["first_failure"]["curl"]
        out = subprocess.run(["bash", "-c", command], capture_output=True, timeout=30, text=True)
    assert out.stdout.startswith("HTTP/1.1 500"), (command, out.stdout, out.stderr)


def custom_shape_app() -> FastAPI:
    """A healthy classifier of another shape: {"inputs": {"message": ...}} -> {"result": [{"score": p}]}."""
    app = healthy_app()
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/predict"]

    @app.post("/v2/classify")
    async def classify(request: Request) -> JSONResponse:
        try:
            document = await request.json()
            message = document["inputs"]["message"]
        except Exception:
            return JSONResponse({"detail": "bad request"}, status_code=400)
        if not isinstance(message, str):
            return JSONResponse({"detail": "message must be a string"}, status_code=422)
        return JSONResponse({"result": [{"score": score_text(message)}]})

    return app


@pytest.mark.parametrize("name", ["contract", "malformed_json", "schema_violations", "injection"])
def test_a_target_with_its_own_shape_is_stressed_through_its_template(name: str) -> None:
    with uvicorn_thread(custom_shape_app(), timeout_graceful_shutdown=1) as url:
        result = run(
            name,
            url,
            predict_path="/v2/classify",
            template='{"inputs": {"message": "{text}"}}',
            probability_pointer="/result/0/score",
        )
    assert result.passed, result.evidence


@pytest.mark.parametrize("name", ["contract", "huge_payload", "http_abuse"])
def test_a_base_url_with_a_path_prefix_is_respected(name: str) -> None:
    """Requests written by hand (raw sockets) carry the base URL's prefix too."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    with uvicorn_thread(
        Starlette(routes=[Mount("/team7", app=healthy_app())]), timeout_graceful_shutdown=1
    ) as url:
        result = run(name, url + "/team7")
    assert result.passed, result.evidence
    assert "404" not in result.status_counts or name == "http_abuse"
