"""clfwatch's demo LLM: an OpenAI-compatible chat server of our own, so the LLM board is never empty.

``GET /health``, ``GET /v1/models`` and ``POST /v1/chat/completions`` (streamed and not), the
subset of OpenAI's API that teams' LLM services expose and clfwatch probes. The "model" is a
word-level Markov chain over a shipped corpus (service/data/llm_corpus.txt): no weights, no
download, a few KB of memory. Each request seeds its own generator from the prompt, so a given
prompt always gets the same text; the delays (time to first token, then one per token) are what
make it look like an inference engine to the probes and the stress suite.

It fails closed the way a careful team's service should: every refusal is OpenAI's error shape
(``{"error": {"message", "type", "param", "code"}}``) with a 4xx status, the key is never echoed,
and anything unexpected is a bare 500 whose details stay in the server log.

    clfwatch service llm [--host 127.0.0.1] [--port 38300]
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.errors import ClfwatchError
from service.data import DATA_DIR

log = logging.getLogger(__name__)

CORPUS_FILE = DATA_DIR / "llm_corpus.txt"
DEMO_MODEL = "clfwatch-demo-llm"
MODEL_CREATED = 1764547200  # 2025-12-01T00:00:00Z: a fixed date, so /v1/models never changes
OWNED_BY = "clfwatch"
DEFAULT_TTFT_S = 0.080  # time to the first token, like a small model on a busy GPU
DEFAULT_ITL_S = 0.025  # between tokens: ~40 tokens/s
DELAY_JITTER = 0.2  # each delay is drawn within +-20 % of its setting
# A "token" is a whitespace-separated word, in the prompt and in the answer alike.
CONTEXT_WINDOW_TOKENS = 2048
DEFAULT_MAX_TOKENS = 64  # when the request names none
MAX_OUTPUT_TOKENS = 256  # a larger max_tokens is accepted but the answer stops here ("length")
MAX_BODY_BYTES = 256 * 1024
MAX_MESSAGES = 256
ROLES = frozenset({"system", "developer", "user", "assistant"})
MARKOV_ORDER = 2
SENTENCE_ENDS = (".", "!", "?")
MIN_ANSWER_TOKENS = 12  # an answer stops at the first sentence end after a length drawn here ...
MAX_ANSWER_TOKENS = 60  # ... and this, unless max_tokens stops it first
AUTH_HEADER = "authorization"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class ApiError(ClfwatchError):
    """A refusal in OpenAI's error shape; raised in handlers, turned into the answer in one place."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a valid chat request the demo uses; everything else in the body is ignored."""

    model: str
    prompt_words: list[str]  # every message's content, split on whitespace
    max_tokens: int  # what the answer may use, already capped at MAX_OUTPUT_TOKENS
    stream: bool
    include_usage: bool
    seed_text: str  # what the generator is seeded from: the same prompt, the same answer


class MarkovChain:
    """Word-level order-2 chain: the next word is drawn from those that followed the last two."""

    def __init__(self, text: str) -> None:
        words = text.split()
        if len(words) <= MARKOV_ORDER:
            raise ValueError("the corpus needs more words than the chain's order")
        self.successors: dict[tuple[str, ...], list[str]] = {}
        for i in range(len(words) - MARKOV_ORDER):
            state = tuple(words[i : i + MARKOV_ORDER])
            self.successors.setdefault(state, []).append(words[i + MARKOV_ORDER])
        # A sentence starts after a sentence end (and at the very beginning).
        self.starts = [tuple(words[:MARKOV_ORDER])] + [
            tuple(words[i + 1 : i + 1 + MARKOV_ORDER])
            for i in range(len(words) - MARKOV_ORDER)
            if words[i].endswith(SENTENCE_ENDS)
        ]

    def generate(self, rng: random.Random, max_tokens: int) -> tuple[list[str], str]:
        """Words of one answer and its finish reason: "stop" at a sentence end, "length" at max_tokens."""
        target = rng.randint(MIN_ANSWER_TOKENS, MAX_ANSWER_TOKENS)
        out = list(rng.choice(self.starts))
        while True:  # bounded: every turn adds a word, and max_tokens ends it
            if len(out) >= target and len(out) <= max_tokens and out[-1].endswith(SENTENCE_ENDS):
                return out, "stop"
            if len(out) >= max_tokens:
                return out[:max_tokens], "length"
            following = self.successors.get(tuple(out[-MARKOV_ORDER:]))
            if following:
                out.append(rng.choice(following))
            else:  # the corpus's last words: start a new sentence
                out.extend(rng.choice(self.starts))


@lru_cache(maxsize=1)
def load_chain(path: Path = CORPUS_FILE) -> MarkovChain:
    """The chain over the shipped corpus, built once per process (~5,000 words, a few ms)."""
    return MarkovChain(path.read_text(encoding="utf-8"))


def seeded_rng(seed_text: str) -> random.Random:
    """A generator that depends on the prompt only: a given prompt always gets the same answer."""
    return random.Random(hashlib.sha256(seed_text.encode("utf-8")).digest())


def _error(status: int, message: str, **kwargs: Any) -> ApiError:
    return ApiError(status, message, **kwargs)


def _positive_int(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(400, f"Invalid type for '{name}': expected an integer, but got {type(value).__name__}.",
                     param=name, code="invalid_type")
    if value < 1:
        raise _error(400, f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
                          f"but got {value} instead.", param=name, code="integer_below_min_value")
    if value > CONTEXT_WINDOW_TOKENS:
        raise _error(400, f"Invalid '{name}': integer above maximum value. Expected a value <= "
                          f"{CONTEXT_WINDOW_TOKENS}, but got {value} instead.",
                     param=name, code="integer_above_max_value")
    return value


def _message_text(index: int, message: object) -> str:
    """The text of one message; refuses what OpenAI refuses (and non-text parts, which the demo lacks)."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _error(400, f"Invalid type for '{where}': expected an object.", param=where,
                     code="invalid_type")
    role = message.get("role")
    if role not in ROLES:
        raise _error(400, f"Invalid value for '{where}.role': expected one of {', '.join(sorted(ROLES))}.",
                     param=f"{where}.role", code="invalid_value")
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):
        return " ".join(part["text"] for part in content)
    raise _error(400, f"Invalid type for '{where}.content': expected a string or a list of text parts.",
                 param=f"{where}.content", code="invalid_type")


def parse_chat_request(body: bytes, models: Sequence[str]) -> ChatRequest:
    """Validate a chat body; ApiError (400, or 404 for an unknown model) names the field and the fix."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _error(400, "We could not parse the JSON body of your request: send one JSON object, "
                          "UTF-8 encoded, with Content-Type: application/json.") from None
    if not isinstance(payload, dict):
        raise _error(400, "The request body must be a JSON object.")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise _error(400, "you must provide a model parameter (a string, see GET /v1/models).",
                     param="model", code="missing_required_parameter")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _error(400, "'messages' must be a non-empty array of {role, content} objects.",
                     param="messages",
                     code="missing_required_parameter" if messages is None else "invalid_value")
    if len(messages) > MAX_MESSAGES:
        raise _error(400, f"Invalid 'messages': at most {MAX_MESSAGES} messages.", param="messages",
                     code="array_above_max_length")
    texts = [_message_text(i, message) for i, message in enumerate(messages)]
    if model not in models:
        raise _error(404, "The model you named does not exist or you do not have access to it "
                          f"(this server has: {', '.join(models)}).", param="model", code="model_not_found")
    requested = _positive_int(payload, "max_completion_tokens") or _positive_int(payload, "max_tokens")
    n = payload.get("n", 1)
    if n is not None and n != 1:
        raise _error(400, "Invalid 'n': this server returns exactly one choice; send n=1 or leave it out.",
                     param="n", code="invalid_value")
    stream = payload.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _error(400, "Invalid type for 'stream': expected a boolean.", param="stream",
                     code="invalid_type")
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _error(400, "Invalid type for 'stream_options': expected an object.", param="stream_options",
                     code="invalid_type")
    prompt_words = " ".join(texts).split()
    wanted = requested or DEFAULT_MAX_TOKENS
    if len(prompt_words) + wanted > CONTEXT_WINDOW_TOKENS:
        raise _error(400, f"This model's maximum context length is {CONTEXT_WINDOW_TOKENS} tokens. However, "
                          f"you requested {len(prompt_words) + wanted} tokens ({len(prompt_words)} in the "
                          f"messages, {wanted} in the completion). Please reduce the length of the messages "
                          f"or completion.", param="messages", code="context_length_exceeded")
    return ChatRequest(
        model=model,
        prompt_words=prompt_words,
        max_tokens=min(wanted, MAX_OUTPUT_TOKENS),
        stream=bool(stream),
        include_usage=bool(options and options.get("include_usage") is True),
        seed_text=json.dumps([model, texts, wanted]),
    )


def model_entry(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": OWNED_BY}


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


@dataclass(frozen=True)
class Delays:
    """How long the demo "thinks"; the tests set both near zero."""

    ttft_s: float = DEFAULT_TTFT_S
    itl_s: float = DEFAULT_ITL_S

    def draw(self, rng: random.Random, base_s: float) -> float:
        return max(0.0, base_s * (1 + DELAY_JITTER * (2 * rng.random() - 1)))


def create_llm_demo_app(*, key: str, model: str = DEMO_MODEL, delays: Delays | None = None,
                        max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The demo LLM as an ASGI app; ``key`` is the bearer key every ``/v1/*`` route demands."""
    if not key:
        raise ValueError("the demo LLM needs a non-empty key (CLFWATCH_DEMO_LLM_KEY)")
    delays = delays or Delays()
    chain = load_chain()
    expected = f"Bearer {key}".encode()
    models = (model,)

    def require_key(request: Request) -> None:
        sent = request.headers.get(AUTH_HEADER)
        if not sent:
            raise _error(401, "You didn't provide an API key. Send it in an Authorization header: "
                              "'Authorization: Bearer YOUR_KEY' (the key is CLFWATCH_DEMO_LLM_KEY).",
                         code="missing_api_key")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), expected):
            raise _error(401, "Incorrect API key provided. Send the server's key as "
                              "'Authorization: Bearer YOUR_KEY' (the key is CLFWATCH_DEMO_LLM_KEY).",
                         code="invalid_api_key")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        too_large = _error(413, f"The request body is larger than {max_body_bytes} bytes; send a shorter "
                                "prompt.", code="request_too_large")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body_bytes):
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_body_bytes:
                raise too_large
        return bytes(body)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def list_models(request: Request) -> Response:
        require_key(request)
        return JSONResponse({"object": "list", "data": [model_entry(m) for m in models]})

    async def get_model(request: Request) -> Response:
        require_key(request)
        wanted = request.path_params["model"]
        if wanted not in models:
            raise _error(404, "The model you named does not exist or you do not have access to it; "
                              "see GET /v1/models.",
                         param="model", code="model_not_found")
        return JSONResponse(model_entry(wanted))

    async def chat(request: Request) -> Response:
        require_key(request)
        parsed = parse_chat_request(await read_body(request), models)
        rng = seeded_rng(parsed.seed_text)
        words, finish = chain.generate(rng, parsed.max_tokens)
        tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        timing = random.Random()  # delays vary per request; the text does not
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        log.info("event=chat model=%s stream=%s prompt_tokens=%d completion_tokens=%d finish=%s",
                 parsed.model, parsed.stream, len(parsed.prompt_words), len(tokens), finish)
        usage = _usage(len(parsed.prompt_words), len(tokens))
        if not parsed.stream:
            await asyncio.sleep(delays.draw(timing, delays.ttft_s)
                                + sum(delays.draw(timing, delays.itl_s) for _ in tokens[1:]))
            return JSONResponse({
                "id": completion_id, "object": "chat.completion", "created": created, "model": parsed.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(tokens),
                                                     "refusal": None},
                             "logprobs": None, "finish_reason": finish}],
                "usage": usage, "system_fingerprint": "fp_clfwatch_demo",
            })
        return StreamingResponse(
            stream_chunks(parsed, tokens, finish, usage, completion_id=completion_id, created=created,
                          delays=delays, timing=timing),
            media_type="text/event-stream", headers=SSE_HEADERS,
        )

    async def on_api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "Unknown route: this server has GET /health, GET /v1/models and "
                        "POST /v1/chat/completions.",
                   405: "Method not allowed on this route; see GET /v1/models and POST /v1/chat/completions."}
        return ApiError(exc.status_code, message.get(exc.status_code, "Request refused."),
                        code="not_found" if exc.status_code == 404 else None).response()

    async def on_disconnect(_request: Request, _exc: Exception) -> Response:
        return Response(status_code=400)  # nobody reads it: the client has gone

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        request_id = uuid.uuid4().hex[:12]
        log.error("event=unhandled request_id=%s path=%s", request_id, request.url.path[:200], exc_info=exc)
        return ApiError(500, f"The server had an error processing your request (request id {request_id}).",
                        type_="server_error").response()

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ],
        exception_handlers={ApiError: on_api_error, HTTPException: on_http_error,
                            ClientDisconnect: on_disconnect, Exception: on_unexpected},
    )


async def stream_chunks(parsed: ChatRequest, tokens: list[str], finish: str, usage: dict[str, int], *,
                        completion_id: str, created: int, delays: Delays,
                        timing: random.Random) -> AsyncIterator[bytes]:
    """The SSE answer: role, one chunk per token, the finish reason, usage if asked, ``[DONE]``."""
    extra: dict[str, Any] = {"usage": None} if parsed.include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                     "model": parsed.model, "system_fingerprint": "fp_clfwatch_demo",
                     "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                  "finish_reason": finish_reason}],
                     **extra})

    yield chunk({"role": "assistant", "content": ""})
    for i, token in enumerate(tokens):
        await asyncio.sleep(delays.draw(timing, delays.ttft_s if i == 0 else delays.itl_s))
        yield chunk({"content": token})
    yield chunk({}, finish)
    if parsed.include_usage:
        yield _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": parsed.model, "system_fingerprint": "fp_clfwatch_demo", "choices": [],
                    "usage": usage})
    yield b"data: [DONE]\n\n"
