"""LLM servers for the LLM suite's tests, beyond tests/llm/servers.py: the demo with one defect
that only a load or behaviour scenario catches.

Each wraps the demo LLM (``service.llm_demo``) in a small ASGI middleware, so everything but
the one defect is the demo's correct behaviour:

- ``serialized``: one request at a time, the lock held until the stream's last byte (a service
  that runs one generation at a time with no queue limit): ``burst`` and ``slow_readers`` fail;
- ``echoes_headers``: a refused request's body dumps the request's headers (a debug handler
  left on), so the key comes back: ``bad_request`` fails, and nothing stored or printed may
  hold the key;
- ``long_prompt_traceback``: a body over 100 kB gets a 500 with a Python traceback;
- ``long_prompt_hang``: a body over 100 kB is never answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from service.llm_demo import DEMO_MODEL, Delays, create_llm_demo_app
from tests.llm.servers import LlmServer
from tests.servers import uvicorn_thread

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

KEY = "test-llm-stress-key-7d31"  # not the demo's default, so nothing passes by luck
BIG_BODY_BYTES = 100_000
HANG_S = 60.0  # longer than any test's long-prompt timeout; cancelled when the client leaves
# Slow enough that a serialized server's queue is seconds deep with a few users.
SERIAL_DELAYS = Delays(ttft_s=0.05, itl_s=0.04)
FAST_DELAYS = Delays(ttft_s=0.002, itl_s=0.001)


def serialized(app: App) -> App:
    lock = asyncio.Lock()

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await app(scope, receive, send)
            return
        async with lock:
            await app(scope, receive, send)

    return wrapped


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that replays it to the wrapped app."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _answer(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def echoes_headers(app: App) -> App:
    """A refused chat request's answer carries every request header (the key included)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await app(scope, receive, send)
            return
        body, replay = await _read_body(receive)
        try:
            document = json.loads(body)
            refused = not isinstance(document, dict) or document.get("max_tokens") == -1
        except ValueError:
            refused = True
        if not refused:
            await app(scope, replay, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        await _answer(send, 400, json.dumps({"error": {"message": "bad request", "debug": headers}}).encode())

    return wrapped


def long_prompt_fault(app: App, *, hang: bool) -> App:
    """A big body crashes with a traceback (``hang`` False) or is never answered (``hang`` True)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await app(scope, receive, send)
            return
        body, replay = await _read_body(receive)
        if len(body) <= BIG_BODY_BYTES:
            await app(scope, replay, send)
            return
        if hang:
            await asyncio.sleep(HANG_S)
            return
        trace = (
            "Traceback (most recent call last):\n"
            '  File "/app/server/generate.py", line 88, in generate\n'
            "    tokens = tokenizer.encode(prompt)\n"
            "RuntimeError: prompt longer than the context window\n"
        )
        await _answer(send, 500, trace.encode(), b"text/plain")

    return wrapped


FAULTS: dict[str, tuple[Callable[[App], App], Delays]] = {
    "serialized": (serialized, SERIAL_DELAYS),
    "echoes_headers": (echoes_headers, FAST_DELAYS),
    "long_prompt_traceback": (lambda app: long_prompt_fault(app, hang=False), FAST_DELAYS),
    "long_prompt_hang": (lambda app: long_prompt_fault(app, hang=True), FAST_DELAYS),
}


@contextmanager
def faulty_demo_server(fault: str) -> Iterator[LlmServer]:
    """The demo LLM with one of ``FAULTS`` on a real uvicorn in a thread."""
    wrap, delays = FAULTS[fault]
    app = wrap(create_llm_demo_app(key=KEY, delays=delays))  # type: ignore[arg-type]
    with uvicorn_thread(app, timeout_graceful_shutdown=1) as url:
        yield LlmServer(base_url=url, key=KEY, model=DEMO_MODEL)
