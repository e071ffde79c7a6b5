"""A tiny OpenAI-compatible server for registration tests: a model list and a canned chat answer.

One server holds every variant under a path prefix, so one uvicorn serves a whole module of cases
(registration reads ``{base_url}/v1/models``; a base URL ``{stub}/empty`` reaches the empty list):

- ``""``: two models, the key demanded (401 without it or with a wrong one)
- ``/one``: one model; ``/empty``: no model; ``/html``: a 200 that is not JSON;
  ``/noid``: a model without ``id``; ``/broken``: 500; ``/slow``: the list after ``SLOW_S``
- ``/open``: two models, and every route answers without the key (a service that does not
  enforce it: registration must warn)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from tests.servers import uvicorn_thread

STUB_KEY = "stub-key-Zq81-never-shown"
MODELS = ("stub-chat-small", "stub-chat-large")
ONE_MODEL = "stub-chat-one"
SLOW_S = 3.0


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1764892800, "owned_by": "clfwatch-tests"}


def _refused() -> JSONResponse:
    return JSONResponse(
        {"error": {"message": "invalid api key", "type": "invalid_request_error", "param": None,
                   "code": "invalid_api_key"}},
        status_code=401,
    )


def _key_ok(request: Request, variant: str) -> bool:
    return variant == "open" or request.headers.get("authorization") == f"Bearer {STUB_KEY}"


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def _stream(model: str) -> Iterator[bytes]:
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}
    deltas = [{"role": "assistant", "content": ""}, {"content": "Hello"}, {"content": " there."}]
    for delta in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield f"data: {json.dumps(last)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    @app.get("/{variant}/health")
    def health(variant: str = "") -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    @app.get("/{variant}/v1/models")
    async def models(request: Request, variant: str = "") -> Response:
        if not _key_ok(request, variant):
            return _refused()
        if variant == "slow":
            await asyncio.sleep(SLOW_S)
        if variant == "html":
            return HTMLResponse("<html><body>It works!</body></html>")
        if variant == "broken":
            return JSONResponse({"detail": "internal error"}, status_code=500)
        data: list[dict[str, Any]] = [_model(m) for m in MODELS]
        if variant == "one":
            data = [_model(ONE_MODEL)]
        elif variant == "empty":
            data = []
        elif variant == "noid":
            data = [{"object": "model", "created": 0, "owned_by": "x"}]
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/chat/completions")
    @app.post("/{variant}/v1/chat/completions")
    async def chat(request: Request, variant: str = "") -> Response:
        if not _key_ok(request, variant):
            return _refused()
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": {"message": "body is not JSON", "type": "invalid_request_error"}},
                                status_code=400)
        model = str(body.get("model") or MODELS[0]) if isinstance(body, dict) else MODELS[0]
        if isinstance(body, dict) and body.get("stream"):
            return StreamingResponse(_stream(model), media_type="text/event-stream")
        return JSONResponse(_completion(model))

    return app


@contextmanager
def llm_stub() -> Iterator[str]:
    """The stub on a real uvicorn (thread); yields its base URL."""
    with uvicorn_thread(build_app()) as url:
        yield url
