"""Loopback servers for the alert tests: a classifier that can be stopped and started again on
the same port, and an HTTP receiver standing behind an Apprise ``json://`` URL."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

START_TIMEOUT_S = 30.0


def classifier_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"id": body["id"], "probability": 0.5}

    return app


class RestartableServer:
    """A real uvicorn in a thread, stoppable and restartable on the same port."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None


@dataclass
class Receiver:
    """What a webhook receiver got: every POSTed JSON body, and how many it refused first."""

    fail_first: int = 0  # answer 500 to this many deliveries before accepting
    fail_delay_s: float = 0.0  # and take this long to do it: a slow, failing provider
    received: list[dict[str, Any]] = field(default_factory=list)  # accepted, in order
    refused: int = 0
    # (from, to) of each slow refusal, in UTC: the clfwatch sender was waiting on us meanwhile
    refusing: list[tuple[datetime, datetime]] = field(default_factory=list)

    def titles(self) -> list[str]:
        return [str(m.get("title", "")) for m in self.received]


def receiver_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        body = await request.json()
        if receiver.refused < receiver.fail_first:
            receiver.refused += 1
            began = datetime.now(UTC)
            await asyncio.sleep(receiver.fail_delay_s)
            receiver.refusing.append((began, datetime.now(UTC)))
            return JSONResponse({"detail": "receiver is having a bad day"}, status_code=500)
        receiver.received.append(body)
        return JSONResponse({"ok": True})

    return app
