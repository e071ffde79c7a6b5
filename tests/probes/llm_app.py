"""A small OpenAI-compatible chat server for the prober's tests, with the knobs they turn.

Streams like OpenAI: a role chunk at once, then content chunks after a first-token delay and an
inter-token delay, a finish chunk, a usage chunk (``stream_options.include_usage``) when asked
and configured, then ``data: [DONE]``. Every request is recorded (headers included), so a test can
check what the prober sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

KEY = "sk-test-llmprobe-0d5c9e"  # the target's key: must never show up in a row or a log line
MODEL = "tiny-test-model"
WORDS = ("Hello", " there", ",", " friend", "!", " How", " are", " you", "?")


@dataclass
class ChatBehaviour:
    """What the server does; a test changes it between probes."""

    key: str | None = KEY  # None: accepts any request (key not enforced)
    first_token_s: float = 0.05  # after the role chunk, before the first content chunk
    itl_s: float = 0.005  # between content chunks
    tokens: int = 5  # content chunks per answer
    usage: bool = True  # send the usage chunk when the client asks for it
    usage_extra_tokens: int = 1  # usage counts this many more tokens than chunks (an end token)
    health_status: int = 200
    health_body: bytes = b'{"status": "ok"}'
    models_body: bytes | None = None  # None: a valid list
    echo_key_in_error: bool = False  # a 401 that echoes the Authorization header it got
    chat_status: int = 200


@dataclass
class Seen:
    """What the server received."""

    requests: list[dict[str, Any]] = field(default_factory=list)


def _chunk(delta: dict[str, Any], finish: str | None = None, *, usage: bool) -> bytes:
    doc: dict[str, Any] = {
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": MODEL, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage:
        doc["usage"] = None
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


def create_chat_app(behaviour: ChatBehaviour, seen: Seen) -> Starlette:
    def authorised(request: Request) -> bool:
        return behaviour.key is None or request.headers.get("authorization") == f"Bearer {behaviour.key}"

    def refuse(request: Request) -> Response:
        message = "invalid or missing API key"
        if behaviour.echo_key_in_error:
            message += f": got {request.headers.get('authorization', '')}"
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=401)

    async def chat(request: Request) -> Response:
        body = json.loads(await request.body())
        seen.requests.append({"headers": dict(request.headers), "body": body})
        if not authorised(request):
            return refuse(request)
        if behaviour.chat_status != 200:
            message = "boom"
            if behaviour.echo_key_in_error:  # a careless server echoing the request's key
                message += f" (request had {request.headers.get('authorization', '')})"
            return JSONResponse({"error": {"message": message}}, status_code=behaviour.chat_status)
        n = min(behaviour.tokens, int(body.get("max_tokens") or behaviour.tokens))
        words = [WORDS[i % len(WORDS)] for i in range(n)]
        usage_doc = {"prompt_tokens": 7, "completion_tokens": n + behaviour.usage_extra_tokens,
                     "total_tokens": 7 + n + behaviour.usage_extra_tokens}
        if not body.get("stream"):
            return JSONResponse({
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage_doc,
            })
        with_usage = behaviour.usage and bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            yield _chunk({"role": "assistant", "content": ""}, usage=with_usage)
            await asyncio.sleep(behaviour.first_token_s)
            for i, word in enumerate(words):
                if i:
                    await asyncio.sleep(behaviour.itl_s)
                yield _chunk({"content": word}, usage=with_usage)
            yield _chunk({}, "length" if n < behaviour.tokens else "stop", usage=with_usage)
            if with_usage:
                doc = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": MODEL, "choices": [], "usage": usage_doc}
                yield b"data: " + json.dumps(doc).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(request: Request) -> Response:
        seen.requests.append({"headers": dict(request.headers), "body": None, "path": "/v1/models"})
        if not authorised(request):
            return refuse(request)
        if behaviour.models_body is not None:
            return Response(behaviour.models_body, media_type="application/json")
        return JSONResponse({"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 1_700_000_000, "owned_by": "tests"}
        ]})

    async def health(request: Request) -> Response:
        return Response(behaviour.health_body, status_code=behaviour.health_status,
                        media_type="application/json")

    return Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ])
