"""Servers for the stress tests: one healthy classifier, and one faulty server per scenario.

Each faulty server has exactly one realistic defect that its scenario exists to catch; the
healthy one honours the contract strictly (size cap -> 413, bad input -> 4xx without echoing
internals) so that every scenario must pass it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from stress.bars import DEFAULT_BARS
from tests.conftest import free_port

# Bars unchanged (they are what a verdict means); budgets cut to seconds so the folder stays fast.
TEST_BARS = DEFAULT_BARS.with_overrides(
    {
        "request_timeout_s": 3.0,
        "huge_timeout_s": 4.0,
        "spike_users": 10,
        "spike_spawn_rate": 10.0,
        "spike_duration_s": 3.0,
        "recovery_burst_users": 20,
        "recovery_burst_s": 2.0,
        "recovery_window_s": 6.0,
        "recovery_calm_requests": 5,
        "recovery_consecutive_ok": 3,
        "slow_clients": 30,
        "slow_hold_s": 4.0,
        "slow_trickle_interval_s": 0.5,
    }
)

MAX_BODY_BYTES = 2 * 1024 * 1024  # the healthy server's cap: 1 MB passes, 10 MB gets 413
MAX_TEXT_CHARS = 1_500_000
MAX_ID_CHARS = 256


class _BodyTooLarge(Exception):
    pass


async def read_capped(request: Request, cap: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def score_text(text: str) -> float:
    """A stand-in model: deterministic, in [0, 1]."""
    return round((sum(map(ord, text[:2000])) % 1000) / 1000, 3)


def validate(document: Any) -> tuple[str, str] | str:
    """(id, text), or the one-line reason the document is not a valid request."""
    if not isinstance(document, dict):
        return "the body must be a JSON object"
    item_id, text = document.get("id"), document.get("text")
    if not isinstance(item_id, str) or not 0 < len(item_id) <= MAX_ID_CHARS:
        return f"id must be a string of 1-{MAX_ID_CHARS} characters"
    if not isinstance(text, str):
        return "text must be a string"
    if len(text) > MAX_TEXT_CHARS:
        return "text too long"
    return item_id, text


def healthy_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(_BodyTooLarge)
    async def too_large(_request: Request, _exc: _BodyTooLarge) -> JSONResponse:
        return JSONResponse({"detail": "request body too large"}, status_code=413)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        body = await read_capped(request)
        try:
            document = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            return JSONResponse({"detail": "body is not valid JSON"}, status_code=400)
        checked = validate(document)
        if isinstance(checked, str):
            # echoes the client's own text on purpose: an echo is not a leak
            return JSONResponse({"detail": checked, "input": str(document)[:200]}, status_code=422)
        item_id, text = checked
        return JSONResponse({"id": item_id, "probability": score_text(text)})

    return app


# ------------------------------------------------------------------ faulty servers, one defect each


def contract_faulty_app() -> FastAPI:
    """Answers 200, but the probability is a percentage and the id is not echoed."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        document = json.loads(await request.body())
        return {"id": "fixed", "probability": 100 * score_text(str(document.get("text")))}

    return app


def naive_app(*, leak_traceback: bool = False) -> FastAPI:
    """Trusts its input: json.loads and ``document["text"].lower()`` with no checks -> 500s."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if leak_traceback:

        @app.exception_handler(Exception)
        async def debug_page(_request: Request, exc: Exception) -> PlainTextResponse:
            return PlainTextResponse(
                'Traceback (most recent call last):\n  File "/app/server.py", line 42, in predict\n'
                f"{type(exc).__name__}: {exc}",
                status_code=500,
            )

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        document = json.loads(await request.body())
        text = document["text"].lower()
        return {"id": document["id"], "probability": score_text(text)}

    return app


def huge_slow_app() -> FastAPI:
    """No size cap and slow on long texts: a 10 MB text is not answered in time."""
    app = healthy_app()
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/predict"]

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        document = json.loads(await request.body())
        await asyncio.sleep(len(document["text"]) / 1_600_000)  # 0.6 s per MB: 6 s for 10 MB
        return JSONResponse({"id": document["id"], "probability": score_text(document["text"])})

    return app


def ascii_only_app() -> FastAPI:
    """Encodes texts as ASCII before scoring: anything beyond ASCII is a 500."""
    app = healthy_app()
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/predict"]

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        document = json.loads(await request.body())
        text = document["text"].encode("ascii").decode()
        return JSONResponse({"id": document["id"], "probability": score_text(text)})

    return app


def sql_app(*, status: int) -> FastAPI:
    """Builds SQL by string formatting: a quote breaks it, and the database error is shown."""
    app = healthy_app()
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/predict"]

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        document = json.loads(await request.body())
        if "'" in document["text"]:
            return JSONResponse(
                {"detail": 'sqlite3.OperationalError: near "OR": syntax error'}, status_code=status
            )
        return JSONResponse({"id": document["id"], "probability": score_text(document["text"])})

    return app


def catch_all_500_app() -> FastAPI:
    """Serves the contract, but any other method or path crashes into a 500."""
    app = healthy_app()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    async def anything(path: str) -> JSONResponse:
        raise RuntimeError(f"no handler for {path}")

    app.router.routes.sort(key=lambda r: getattr(r, "path", "") == "/{path:path}")
    return app


def shedding_app(max_in_flight: int = 3) -> FastAPI:
    """Load shedding far too early: more than a handful of requests at once get 503."""
    app = healthy_app()
    state = {"in_flight": 0}

    @app.middleware("http")
    async def shed(request: Request, call_next: Any) -> Any:
        if state["in_flight"] >= max_in_flight:
            return JSONResponse({"detail": "busy"}, status_code=503)
        state["in_flight"] += 1
        try:
            await asyncio.sleep(0.02)
            return await call_next(request)
        finally:
            state["in_flight"] -= 1

    return app


def serialized_slow_app() -> FastAPI:
    """One request at a time, 60 ms each: under a burst the queue makes p95 explode."""
    app = healthy_app()
    lock = asyncio.Lock()

    @app.middleware("http")
    async def serialize(request: Request, call_next: Any) -> Any:
        async with lock:
            await asyncio.sleep(0.06)
            return await call_next(request)

    return app


def degrading_app(trip_requests: int = 150, broken_s: float = 120.0) -> FastAPI:
    """After a burst it never recovers in time: it trips into a slow, failing mode for minutes."""
    app = healthy_app()
    state = {"count": 0, "window_start": time.monotonic(), "broken_until": 0.0}

    @app.middleware("http")
    async def degrade(request: Request, call_next: Any) -> Any:
        now = time.monotonic()
        if now < state["broken_until"]:
            await asyncio.sleep(0.3)
            return JSONResponse({"detail": "degraded"}, status_code=503)
        if now - state["window_start"] > 1.0:
            state["count"], state["window_start"] = 0, now
        state["count"] += 1
        if state["count"] > trip_requests:
            state["broken_until"] = now + broken_s
        return await call_next(request)

    return app


# ------------------------------------------------------------------ raw asyncio servers

HEALTH_BODY = b'{"status":"ok"}'


def _response(status: int, body: bytes, reason: str = "OK") -> bytes:
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = (lines[0].split(" ") + ["", "", ""])[:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, path, headers


async def _serve_contract(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, early_413_over: int | None
) -> None:
    try:
        method, path, headers = await _read_head(reader)
        length = int(headers.get("content-length", "0") or 0)
        if early_413_over is not None and length > early_413_over:
            writer.write(_response(413, b'{"detail":"too large"}', "Payload Too Large"))
            await writer.drain()
            return  # closes without reading the upload, as many proxies do
        body = await reader.readexactly(length) if length else b""
        if method == "GET" and path == "/health":
            writer.write(_response(200, HEALTH_BODY))
        elif method == "POST" and path == "/predict":
            try:
                document = json.loads(body)
                checked = validate(document)
            except (ValueError, RecursionError):
                checked = "bad json"
            if isinstance(checked, str):
                writer.write(_response(422, b'{"detail":"invalid request"}', "Unprocessable Entity"))
            else:
                out = json.dumps({"id": checked[0], "probability": score_text(checked[1])}).encode()
                writer.write(_response(200, out))
        else:
            writer.write(_response(404, b'{"detail":"not found"}', "Not Found"))
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()


@contextmanager
def raw_server(*, early_413_over: int | None = None, max_connections: int | None = None) -> Iterator[str]:
    """A tiny HTTP/1.1 server on asyncio in a thread; yields its base URL.

    ``early_413_over``: answer 413 and close, unread, when Content-Length exceeds it.
    ``max_connections``: serve at most this many connections at once, the rest wait (a
    thread-pool server's weakness, and exactly what slow clients exploit).
    """
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: dict[str, Any] = {}

    async def main() -> None:
        gate = asyncio.Semaphore(max_connections) if max_connections else None

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                if gate is None:
                    await _serve_contract(reader, writer, early_413_over=early_413_over)
                    return
                async with gate:
                    await _serve_contract(reader, writer, early_413_over=early_413_over)
            except asyncio.CancelledError:  # the server stopping with slow clients still queued
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", port, limit=256 * 1024)
        stop["event"] = asyncio.Event()
        started.set()
        async with server:
            await stop["event"].wait()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:  # connections still held (slow clients): end them quietly
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("raw server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop["event"].set)
        thread.join(timeout=10)


def flaky_app(*, first_503_on: str) -> FastAPI:
    """Healthy, except one 503 to the first request on ``first_503_on`` (``/health`` or
    ``/predict``): a service that is still warming up just before the burst."""
    app = healthy_app()
    state = {"tripped": False}

    @app.middleware("http")
    async def one_503(request: Request, call_next: Any) -> Any:
        if request.url.path == first_503_on and not state["tripped"]:
            state["tripped"] = True
            return JSONResponse({"detail": "warming up"}, status_code=503)
        return await call_next(request)

    return app


def never_healthy_app() -> FastAPI:
    """Predicts fine, but its health check always answers 503."""
    app = healthy_app()

    @app.middleware("http")
    async def unhealthy(request: Request, call_next: Any) -> Any:
        if request.url.path == "/health":
            return JSONResponse({"detail": "not ready"}, status_code=503)
        return await call_next(request)

    return app


@contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) but never answers: every request
    times out."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
