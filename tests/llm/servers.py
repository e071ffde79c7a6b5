"""LLM servers on loopback for tests: the demo LLM, faulty small servers, LiteLLM's proxy.

Each yields an ``LlmServer`` (base URL, key, model), so one test body can run against any of them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from service.llm_demo import DEMO_MODEL, Delays, create_llm_demo_app
from tests.servers import free_port, process, uvicorn_thread

if TYPE_CHECKING:  # openai costs 0.5 s of imports; every pytest process imports this module
    import openai

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]

DEMO_KEY = "test-demo-llm-key-4b1d"  # not the default, so a test cannot pass by luck
TEST_DELAYS = Delays(ttft_s=0.002, itl_s=0.001)


@dataclass(frozen=True)
class LlmServer:
    """Where a test finds an OpenAI-compatible server: ``base_url`` ends before ``/v1``."""

    base_url: str
    key: str
    model: str

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"


def _strip_auth(request: httpx.Request) -> None:
    del request.headers["authorization"]


def strict_client(server: LlmServer, key: str | None = None) -> openai.OpenAI:
    """The official client in strict mode; ``key=""`` sends no Authorization header at all."""
    import openai

    # The client refuses to start without a key: it gets one, and the hook drops the header.
    hooks = {"request": [_strip_auth]} if key == "" else {}
    return openai.OpenAI(base_url=server.v1, api_key=key or server.key, max_retries=0, timeout=30.0,
                         http_client=httpx.Client(event_hooks=hooks), _strict_response_validation=True)


@contextmanager
def demo_llm_server(*, key: str = DEMO_KEY, delays: Delays = TEST_DELAYS) -> Iterator[LlmServer]:
    """clfwatch's demo LLM on a real uvicorn in a thread."""
    with uvicorn_thread(create_llm_demo_app(key=key, delays=delays)) as url:
        yield LlmServer(base_url=url, key=key, model=DEMO_MODEL)


# --- faulty servers: one defect each ---------------------------------------------------------------

FAULTY_KEY = "test-faulty-llm-key-9c2e"
FAULTY_MODEL = "faulty-llm"
FAULTY_WORDS = ["a", " faulty", " server", " answers", " this."]


class Defect(StrEnum):
    """What a faulty server gets wrong; everything else it gets right."""

    NO_OBJECT = "no_object"  # completions and chunks lack "object"
    EMPTY_CHOICES = "empty_choices"  # completions and chunks carry "choices": []
    ROLE_BOT = "role_bot"  # the message / first delta says role "bot"
    NO_DONE = "no_done"  # the stream ends without "data: [DONE]"
    AUTH_NOT_ENFORCED = "auth_not_enforced"  # any key, or none, is accepted
    CRASH_ON_NEGATIVE_MAX_TOKENS = "crash_on_negative_max_tokens"  # max_tokens: -1 -> bare 500
    STREAM_CUT = "stream_cut"  # the connection closes after two content chunks


class _StreamCut(Exception):
    """Raised inside the stream on purpose: uvicorn then drops the connection mid-body."""


def create_faulty_app(defect: Defect) -> Starlette:
    """An OpenAI-compatible server, written apart from the demo, with exactly one ``defect``."""

    def authorised(request: Request) -> bool:
        sent = request.headers.get("authorization", "")
        return defect is Defect.AUTH_NOT_ENFORCED or sent == f"Bearer {FAULTY_KEY}"

    def refused() -> JSONResponse:
        error = {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": None,
                 "code": "invalid_api_key"}
        return JSONResponse({"error": error}, status_code=401)

    def envelope(obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        if defect is Defect.EMPTY_CHOICES:
            choices = []
        body: dict[str, Any] = {"id": "chatcmpl-faulty", "object": obj, "created": 1764547200,
                                "model": FAULTY_MODEL, "choices": choices}
        if defect is Defect.NO_OBJECT:
            del body["object"]
        return body

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = envelope("chat.completion.chunk", [{"index": 0, "delta": delta, "finish_reason": finish}])
        return f"data: {json.dumps(payload)}\n\n".encode()

    role = "bot" if defect is Defect.ROLE_BOT else "assistant"

    async def stream() -> AsyncIterator[bytes]:
        yield chunk({"role": role, "content": ""})
        for i, word in enumerate(FAULTY_WORDS):
            if defect is Defect.STREAM_CUT and i == 2:
                raise _StreamCut
            yield chunk({"content": word})
        yield chunk({}, "stop")
        if defect is not Defect.NO_DONE:
            yield b"data: [DONE]\n\n"

    async def models(request: Request) -> Response:
        if not authorised(request):
            return refused()
        entry = {"id": FAULTY_MODEL, "object": "model", "created": 1764547200, "owned_by": "tests"}
        return JSONResponse({"object": "list", "data": [entry]})

    async def chat(request: Request) -> Response:
        if not authorised(request):
            return refused()
        body = await request.json()
        if defect is Defect.CRASH_ON_NEGATIVE_MAX_TOKENS and body.get("max_tokens") == -1:
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        if body.get("stream"):
            return StreamingResponse(stream(), media_type="text/event-stream")
        message = {"role": role, "content": "".join(FAULTY_WORDS)}
        completion = envelope("chat.completion", [{"index": 0, "message": message, "finish_reason": "stop"}])
        completion["usage"] = {"prompt_tokens": 3, "completion_tokens": len(FAULTY_WORDS),
                               "total_tokens": 3 + len(FAULTY_WORDS)}
        return JSONResponse(completion)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
    ])


@contextmanager
def faulty_llm_server(defect: Defect) -> Iterator[LlmServer]:
    """A faulty server with one ``defect`` on a real uvicorn in a thread."""
    with uvicorn_thread(create_faulty_app(defect)) as url:
        yield LlmServer(base_url=url, key=FAULTY_KEY, model=FAULTY_MODEL)


# --- LiteLLM's proxy: an independent server, in its own venv -------------------------------------

LITELLM_BIN = REPO_ROOT / ".venv-litellm" / "bin" / "litellm"
LITELLM_KEY = "sk-test-litellm-master-5e7f"  # the proxy's master_key (LiteLLM wants "sk-")
LITELLM_MODEL = "mock-chat"
LITELLM_MOCK_TEXT = "The proxy streams this mock answer piece by piece, and no model is loaded."
LITELLM_READY_TIMEOUT_S = 120.0  # ~10-16 s here on a loaded 2-core box (imports, not network)
LITELLM_CONFIG = f"""\
model_list:
  - model_name: {LITELLM_MODEL}
    litellm_params:
      model: openai/{LITELLM_MODEL}
      api_key: not-used-mock-response-only
      mock_response: "{LITELLM_MOCK_TEXT}"
litellm_settings:
  telemetry: false
  drop_params: true
general_settings:
  master_key: {LITELLM_KEY}
"""
# Everything that could make the proxy reach out: no cost-map download, no telemetry, no
# database, no proxy environment, a HOME of its own (nothing read from the user's config).
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_SCHEMA_UPDATE": "True",
    "PYTHONUNBUFFERED": "1",
}
DROPPED_ENV_PREFIXES = ("LITELLM_", "DATABASE_URL", "OPENAI_", "ANTHROPIC_", "AZURE_", "AWS_", "REDIS_",
                        "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "CLFWATCH_")


class LitellmMissing(RuntimeError):
    """The LiteLLM venv is not installed; the tests need it (no skip: a missing server is a failure)."""


@contextmanager
def litellm_proxy_server(workdir: Path) -> Iterator[LlmServer]:
    """LiteLLM's proxy with a ``mock_response`` model and a master key, on a free loopback port.

    Its own process group, stopped at the end; waits (bounded) for ``/health/liveliness``.
    """
    if not LITELLM_BIN.exists():
        raise LitellmMissing(f"{LITELLM_BIN} is missing: run `make litellm` "
                             "(installs scripts/litellm-requirements.txt into .venv-litellm)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "litellm.yaml"
    config.write_text(LITELLM_CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV_PREFIXES)}
    env.update(LITELLM_ENV, HOME=str(workdir))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(LITELLM_BIN), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    with process(cmd, ready_url=f"{url}/health/liveliness", env=env, cwd=workdir,
                 log_path=workdir / "litellm.log", timeout_s=LITELLM_READY_TIMEOUT_S):
        log.info("event=litellm_ready port=%d start_s=%.1f", port, time.monotonic() - started)
        yield LlmServer(base_url=url, key=LITELLM_KEY, model=LITELLM_MODEL)
