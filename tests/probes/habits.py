"""Classifier servers with the connection habits real deployments have, for the soak test.

Each answers the contract correctly; what differs is how it treats a connection once the
answer is sent: uvicorn with its keep-alive timeout (whatever the test picks: 2 s as gunicorn,
5 s by default, 75 s as nginx), a server that answers ``Connection: close`` and hangs up, one
that goes silent on a connection idle for ``SILENT_AFTER_IDLE_S`` without a FIN reaching the
client (a NAT or load balancer that forgot the connection), and one that resets the connection
halfway through its answer (a genuine failure the prober must still record).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.servers import uvicorn_thread

SILENT_AFTER_IDLE_S = 1.5  # between the soak's two probe gaps (1 s and 2 s)
MAX_HEAD_BYTES = 64 * 1024


def contract_app() -> FastAPI:
    """A minimal classifier that follows the contract."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"id": body["id"], "probability": (len(body["text"]) % 10) / 10})

    return app


@contextmanager
def uvicorn_keepalive(keepalive_s: float) -> Iterator[str]:
    """The contract on a real uvicorn whose keep-alive timeout is ``keepalive_s``."""
    with uvicorn_thread(contract_app(), timeout_keep_alive=keepalive_s) as url:
        yield url


def _answer(head: bytes, body: bytes) -> bytes:
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    if request_line.startswith("GET /health "):
        payload: dict[str, Any] = {"status": "ok"}
    else:
        document = json.loads(body)
        payload = {"id": document["id"], "probability": 0.25}
    return json.dumps(payload).encode()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class RawServer:
    """A raw asyncio HTTP/1.1 server in its own thread, with one connection habit.

    ``habit`` is ``close`` (answers with ``Connection: close``, then closes), ``silent``
    (keeps connections, but after ``SILENT_AFTER_IDLE_S`` idle stops reading and answering on
    them without closing), or ``reset_half`` (sends half of each answer, then a TCP reset).
    """

    def __init__(self, habit: str) -> None:
        self.habit = habit
        self.answered = 0
        self.went_silent = 0  # connections the silent server stopped answering on
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    def __enter__(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        handlers = [t for t in self._handlers if not t.done()]
        for task in handlers:
            task.cancel()  # a silent connection's handler waits for ever otherwise
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            while True:
                idle_limit = SILENT_AFTER_IDLE_S if self.habit == "silent" else None
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle_limit)
                except TimeoutError:
                    # Forget the connection without telling the client: no FIN, no reset;
                    # whatever it sends from now on goes unanswered until the test ends.
                    self.went_silent += 1
                    await asyncio.Event().wait()
                body = await reader.readexactly(_content_length(head)) if _content_length(head) else b""
                payload = _answer(head, body)
                close = self.habit == "close"
                head_out = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n"
                    + ("Connection: close\r\n" if close else "")
                    + "\r\n"
                ).encode()
                if self.habit == "reset_half":
                    writer.write(head_out + payload[: len(payload) // 2])
                    await writer.drain()
                    sock = writer.get_extra_info("socket")
                    # SO_LINGER with a zero timeout turns the close into a reset.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                writer.write(head_out + payload)
                await writer.drain()
                self.answered += 1
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
