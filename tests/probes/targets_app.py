"""A small farm of misbehaving classifiers on one real uvicorn, one behaviour per path prefix."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

SLOW_DELAY_S = 0.15
HANG_S = 5.0
TOKEN = "s3cr3t-token-never-logged"
HUGE_TOTAL_BYTES = 1024**3  # a gigabyte, if anyone read it all
HUGE_CHUNK_BYTES = 64 * 1024
TEMPLATE = '{"input": {"body": "{text}", "ref": "{id}"}, "note": "id={id}"}'
TEMPLATE_POINTER = "/result/0/p"


@dataclass
class FarmState:
    flap_up: bool = True
    huge_bytes_sent: int = 0  # accepted by the kernel for the prober, over all huge answers
    huge_answers: int = 0
    # (behaviour, kind, monotonic arrival, status answered)
    log: list[tuple[str, str, float, int]] = field(default_factory=list)
    templated_bodies: list[Any] = field(default_factory=list)


def _probability(sample_id: str) -> float:
    return round((sum(map(ord, sample_id)) % 97) / 96.0, 6)


def create_farm(state: FarmState) -> FastAPI:
    app = FastAPI()

    def note(name: str, kind: str, status: int) -> None:
        state.log.append((name, kind, time.monotonic(), status))

    @app.get("/{name}/health")
    async def health(name: str, request: Request) -> Response:
        if name == "slow":
            await asyncio.sleep(SLOW_DELAY_S)
        if name == "hang":
            await asyncio.sleep(HANG_S)
        if name == "garbage":
            note(name, "health", 200)
            return PlainTextResponse("yes, fine")
        if name == "token" and request.headers.get("authorization") != f"Bearer {TOKEN}":
            note(name, "health", 401)
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        if name == "flap" and not state.flap_up:
            note(name, "health", 503)
            return JSONResponse({"detail": "down"}, status_code=503)
        note(name, "health", 200)
        return JSONResponse({"status": "ok", "version": "x"})

    @app.post("/{name}/predict")
    async def predict(name: str, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw)  # a broken body from the prober fails the test loudly
        if name == "slow":
            await asyncio.sleep(SLOW_DELAY_S)
        if name == "hang":
            await asyncio.sleep(HANG_S)
        if name == "garbage":
            note(name, "predict", 200)
            return PlainTextResponse("<html>not json")
        if name == "token" and request.headers.get("authorization") != f"Bearer {TOKEN}":
            note(name, "predict", 401)
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        if name == "flap" and not state.flap_up:
            note(name, "predict", 503)
            return JSONResponse({"detail": "down"}, status_code=503)
        if name == "templated":
            state.templated_bodies.append(body)
            p = _probability(body["input"]["ref"])
            note(name, "predict", 200)
            return JSONResponse({"result": [{"p": p}]})
        if name == "nan":
            note(name, "predict", 200)
            return Response(
                json.dumps({"id": body["id"], "probability": math.nan}), media_type="application/json"
            )
        note(name, "predict", 200)
        return JSONResponse({"id": body["id"], "probability": _probability(body["id"])})

    return app


@contextmanager
def huge_server(state: FarmState) -> Iterator[str]:
    """A raw asyncio server answering every request with a gigabyte (if anyone reads it).

    Raw, so that ``drain()`` applies the prober's backpressure and the byte count is what
    actually left for the prober, not what a framework generated into a closed socket.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            state.huge_answers += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            chunk = b"[" + b"0," * (HUGE_CHUNK_BYTES // 2 - 1) + b"0"
            sent = 0
            while sent < HUGE_TOTAL_BYTES:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                state.huge_bytes_sent += len(chunk)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        holder["port"] = server.sockets[0].getsockname()[1]
        holder["server"] = server
        ready.set()
        async with server:
            with contextlib.suppress(asyncio.CancelledError):
                await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:
        loop.call_soon_threadsafe(holder["server"].close)  # type: ignore[attr-defined]
        thread.join(timeout=10)
