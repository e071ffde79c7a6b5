"""The openai-chat contract: one table of answers, each with its one verdict (its first problem).

Rows are completions, single stream chunks, whole streams and ``/v1/models`` lists: real-looking
answers of llama.cpp's server, vLLM and LiteLLM's proxy (written by hand from the ``openai``
types and those servers' documented output), then one defect per row. The last tests put 39
rows, then every one-field mutation of the valid answers (about 950), through the official
``openai`` client with ``_strict_response_validation=True`` against a real HTTP server on
127.0.0.1: the client and clfwatch must agree on each, but for clfwatch's deliberate extras,
which are listed and checked to be accepted by the client.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core import llm_contract
from core.llm_contract import (
    DEFAULT_MAX_TOKENS,
    FINISH_REASONS,
    MAX_REASON_CHARS,
    REASON_AFTER_DONE,
    REASON_EMPTY_STREAM,
    REASON_ERROR_OBJECT,
    REASON_NO_CHOICE,
    REASON_NO_DONE,
    REASON_NO_EVENTS,
    REASON_NO_FINISH,
    REASON_NO_MODEL,
    REASON_NOT_JSON,
    REASON_NOT_OBJECT,
    SseEvent,
    SseParser,
    StreamCheck,
    chat_body,
    check_completion,
    check_models,
    check_stream,
    chunk_problems,
    field_path,
    first_problem,
    model_ids,
    models_health_problem,
    parse_json,
    pick_prompt,
)
from core.llm_prompts import PROMPTS

CREATED = 1_733_000_000
FINISH_EXPECTED = 'expected "stop", "length", "tool_calls", "content_filter" or "function_call"'

# --- real-looking answers ------------------------------------------------------------------

LLAMA_CPP = {  # llama.cpp's llama-server, /v1/chat/completions, stream false
    "choices": [
        {"finish_reason": "length", "index": 0, "message": {"role": "assistant", "content": "Hello! How can"}}
    ],
    "created": CREATED,
    "model": "gpt-3.5-turbo",
    "system_fingerprint": "b4500-adf878e2",
    "object": "chat.completion",
    "usage": {"completion_tokens": 16, "prompt_tokens": 12, "total_tokens": 28},
    "id": "chatcmpl-0AYqDwQ8Hk4z",
    "timings": {"prompt_n": 12, "prompt_ms": 8.1, "predicted_n": 16, "predicted_ms": 120.4},
}
VLLM = {
    "id": "chatcmpl-7f1e4c2ab8a94a4e",
    "object": "chat.completion",
    "created": CREATED,
    "model": "Qwen/Qwen2.5-0.5B-Instruct",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "reasoning_content": None,
                "content": "Paris.",
                "refusal": None,
                "annotations": None,
                "audio": None,
                "function_call": None,
                "tool_calls": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": None,
        }
    ],
    "service_tier": None,
    "system_fingerprint": None,
    "usage": {"prompt_tokens": 14, "total_tokens": 17, "completion_tokens": 3, "prompt_tokens_details": None},
    "prompt_logprobs": None,
    "kv_transfer_params": None,
}
LITELLM = {
    "id": "chatcmpl-3b2f8f6e-6a0c-4a8e-9d1b-2f4c5e6a7b8c",
    "created": CREATED,
    "model": "mock-gpt",
    "object": "chat.completion",
    "system_fingerprint": None,
    "choices": [
        {
            "finish_reason": "stop",
            "index": 0,
            "message": {
                "content": "This is a mock request",
                "role": "assistant",
                "tool_calls": None,
                "function_call": None,
            },
        }
    ],
    "usage": {
        "completion_tokens": 20,
        "prompt_tokens": 10,
        "total_tokens": 30,
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    },
}
OPENAI_TOOLS = {  # OpenAI's own shape with a tool call and logprobs
    "id": "chatcmpl-AbC123",
    "object": "chat.completion",
    "created": CREATED,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Moscow"}'},
                    }
                ],
                "refusal": None,
            },
            "logprobs": {"content": [], "refusal": None},
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
    "service_tier": "default",
    "system_fingerprint": "fp_0ba0d124f1",
}


def _with(base: dict[str, Any], *path_and_value: Any, drop: bool = False) -> dict[str, Any]:
    """A deep copy of ``base`` with one field changed (or dropped) at ``path``."""
    *path, value = path_and_value
    document = copy.deepcopy(base)
    node: Any = document
    for step in path[:-1]:
        node = node[step]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


def _j(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- chunks and streams ----------------------------------------------------------------


def _chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    finish: str | None = None,
    server: str = "llama.cpp",
    **extra: Any,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
    if server == "vllm":
        choice["logprobs"] = None
        choice["stop_reason"] = None
    document = {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "m",
        "choices": [choice],
    }
    if server == "llama.cpp":
        document["system_fingerprint"] = "b4500-adf878e2"
    document.update(extra)
    return document


USAGE_CHUNK = {
    "id": "chatcmpl-s1",
    "object": "chat.completion.chunk",
    "created": CREATED,
    "model": "m",
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}


def _sse(*items: Any, eol: str = "\n", done: bool = True) -> bytes:
    """A stream body: each item a chunk (dict), raw data text (str) or a raw line block (bytes)."""
    out = b""
    for item in items:
        if isinstance(item, bytes):
            out += item
        else:
            data = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            out += f"data: {data}{eol}{eol}".encode()
    if done:
        out += f"data: [DONE]{eol}{eol}".encode()
    return out


STREAM_LLAMA = _sse(
    _chunk(role="assistant", content=""),
    _chunk("Hello"),
    _chunk(" there"),
    _chunk("!", finish="stop"),
    {**_chunk(), "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}},
)
STREAM_VLLM = _sse(
    _chunk(role="assistant", content="", server="vllm"),
    _chunk("Пр", server="vllm"),
    _chunk("ивет", server="vllm"),
    _chunk(None, finish="length", server="vllm"),
    USAGE_CHUNK,
)
STREAM_LITELLM = _sse(  # LiteLLM's mock stream: no usage chunk unless asked, CRLF line ends
    _chunk("This is", role="assistant", server="litellm"),
    _chunk(" a mock", server="litellm"),
    _chunk(None, finish="stop", server="litellm"),
    eol="\r\n",
)
STREAM_PINGS = (  # comments, event lines, a JSON split over two data lines
    b": ping\n\n"
    + b"event: message\n"
    + _sse(_chunk("Hi", role="assistant"), done=False)
    + b": keep-alive\n"
    + b'data: {"id": "c", "object": "chat.completion.chunk", "created": 1,\n'
    + b'data:  "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    + b"data: [DONE]"  # one newline short at the very end: still [DONE]
)


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # completion | chunk | stream | models
    body: bytes
    first: str | None  # the expected first problem; None = valid
    also: tuple[str, ...] = ()  # the further problems, when the answer breaks more than one rule


ROWS = [
    # completions: valid
    Row("llama.cpp answer", "completion", _j(LLAMA_CPP), None),
    Row("vLLM answer", "completion", _j(VLLM), None),
    Row("LiteLLM answer", "completion", _j(LITELLM), None),
    Row("OpenAI tool call", "completion", _j(OPENAI_TOOLS), None),
    Row(
        "created as a numeric string (the client coerces)",
        "completion",
        _j(_with(LLAMA_CPP, "created", str(CREATED))),
        None,
    ),
    Row("a null error member", "completion", _j({**LITELLM, "error": None}), None),
    Row("deep nesting in an extra field", "completion", _j({**VLLM, "x": json.loads(_deep(200))}), None),
    # completions: defects
    Row("no object", "completion", _j(_with(LLAMA_CPP, "object", None, drop=True)), "object: field required"),
    Row(
        "object of a chunk",
        "completion",
        _j(_with(VLLM, "object", "chat.completion.chunk")),
        'object: expected "chat.completion"',
    ),
    Row("choices: []", "completion", _j(_with(LITELLM, "choices", [])), REASON_NO_CHOICE),
    Row(
        'role "bot"',
        "completion",
        _j(_with(LLAMA_CPP, "choices", 0, "message", "role", "bot")),
        'choices[0].message.role: expected "assistant"',
    ),
    Row("no created", "completion", _j(_with(VLLM, "created", None, drop=True)), "created: field required"),
    Row(
        'finish_reason "banana"',
        "completion",
        _j(_with(LITELLM, "choices", 0, "finish_reason", "banana")),
        f"choices[0].finish_reason: {FINISH_EXPECTED}",
    ),
    Row(
        "finish_reason null",
        "completion",
        _j(_with(LITELLM, "choices", 0, "finish_reason", None)),
        f"choices[0].finish_reason: {FINISH_EXPECTED}",
    ),
    Row(
        "a classifier's answer",
        "completion",
        b'{"id": "s-1", "probability": 0.93}',
        "choices: field required",
        ("created: field required", "model: field required", "object: field required"),
    ),
    Row("a bare probability", "completion", b"0.93", REASON_NOT_OBJECT),
    Row(
        "error object with a 200",
        "completion",
        b'{"error": {"message": "model not loaded", "type": "server_error", "code": 503}}',
        REASON_ERROR_OBJECT,
    ),
    Row("not JSON", "completion", b"<html><body>502 Bad Gateway</body></html>", REASON_NOT_JSON),
    Row("empty body", "completion", b"", REASON_NOT_JSON),
    Row("JSON null", "completion", b"null", REASON_NOT_OBJECT),
    Row("a list", "completion", _j([LLAMA_CPP]), REASON_NOT_OBJECT),
    Row(
        "created 1e400",
        "completion",
        _j(LLAMA_CPP).replace(b"1733000000", b"1e400"),
        "created: expected a finite number",
    ),
    Row("created 1.5", "completion", _j(_with(VLLM, "created", 1.5)), "created: expected an integer"),
    Row(
        "5000-digit created", "completion", _j(LLAMA_CPP).replace(b"1733000000", b"9" * 5000), REASON_NOT_JSON
    ),
    Row("nesting past the recursion limit", "completion", _deep(100_000).encode(), REASON_NOT_JSON),
    Row(
        "invalid UTF-8", "completion", _j(LITELLM).replace(b"mock request", b"mock \xff\xfe"), REASON_NOT_JSON
    ),
    Row(
        "byte order mark (json.loads on bytes allows it, as in the client)",
        "completion",
        b"\xef\xbb\xbf" + _j(LITELLM),
        None,
    ),
    Row(
        "content is a number",
        "completion",
        _j(_with(LLAMA_CPP, "choices", 0, "message", "content", 42)),
        "choices[0].message.content: expected a string",
    ),
    Row(
        "no message",
        "completion",
        _j(_with(VLLM, "choices", 0, "message", None, drop=True)),
        "choices[0].message: field required",
    ),
    Row(
        "choices is an object",
        "completion",
        _j(_with(VLLM, "choices", {"0": {}})),
        "choices: expected a list",
    ),
    Row(
        "usage tokens as words",
        "completion",
        _j(_with(LLAMA_CPP, "usage", "completion_tokens", "many")),
        "usage.completion_tokens: expected an integer",
    ),
    Row(
        "tool call without arguments",
        "completion",
        _j(
            _with(
                OPENAI_TOOLS,
                "choices",
                0,
                "message",
                "tool_calls",
                0,
                "function",
                "arguments",
                None,
                drop=True,
            )
        ),
        "choices[0].message.tool_calls[0].function.arguments: field required",
    ),
    # single chunks
    Row("llama.cpp chunk", "chunk", _j(_chunk("Hi")), None),
    Row("vLLM first chunk", "chunk", _j(_chunk("", role="assistant", server="vllm")), None),
    Row("usage chunk without choices", "chunk", _j(USAGE_CHUNK), None),
    Row(
        "chunk with a completion's object",
        "chunk",
        _j({**_chunk("Hi"), "object": "chat.completion"}),
        'object: expected "chat.completion.chunk"',
    ),
    Row(
        'chunk role "bot"',
        "chunk",
        _j(_chunk("Hi", role="bot")),
        'choices[0].delta.role: expected "assistant"',
    ),
    Row(
        'chunk role "user" (the type allows it)',
        "chunk",
        _j(_chunk("Hi", role="user")),
        'choices[0].delta.role: expected "assistant"',
    ),
    Row(
        'chunk finish_reason "banana"',
        "chunk",
        _j(_chunk("Hi", finish="banana")),
        f"choices[0].finish_reason: {FINISH_EXPECTED}",
    ),
    Row(
        "chunk without created",
        "chunk",
        _j(_with(_chunk("Hi"), "created", None, drop=True)),
        "created: field required",
    ),
    Row("chunk is a list", "chunk", b"[]", "body: expected a JSON object"),
    # whole streams
    Row("llama.cpp stream", "stream", STREAM_LLAMA, None),
    Row("vLLM stream with usage", "stream", STREAM_VLLM, None),
    Row("LiteLLM stream, CRLF", "stream", STREAM_LITELLM, None),
    Row("pings, events, multi-line data, [DONE] one newline short", "stream", STREAM_PINGS, None),
    Row("stream without [DONE]", "stream", STREAM_LLAMA.replace(b"data: [DONE]\n\n", b""), REASON_NO_DONE),
    Row("stream stopping halfway", "stream", STREAM_LLAMA[: len(STREAM_LLAMA) // 2], REASON_NO_DONE),
    Row(
        "stream cut right after a chunk",
        "stream",
        _sse(_chunk("Hi", role="assistant"), done=False),
        REASON_NO_DONE,
    ),
    Row(
        "non-JSON chunk",
        "stream",
        _sse(_chunk("Hi"), "Hello world", _chunk(None, finish="stop")),
        "chunks[1]: not JSON",
    ),
    Row(
        "error object mid-stream",
        "stream",
        _sse(_chunk("Hi"), {"error": {"message": "CUDA out of memory", "code": 500}}),
        "chunks[1].error: an error object in the stream",
        (REASON_NO_FINISH,),
    ),
    Row(
        'stream role "bot"',
        "stream",
        _sse(_chunk("Hi", role="bot"), _chunk(None, finish="stop")),
        'chunks[0].choices[0].delta.role: expected "assistant"',
    ),
    Row(
        "stream without object",
        "stream",
        _sse(_with(_chunk("Hi"), "object", None, drop=True), _chunk(None, finish="stop")),
        "chunks[0].object: field required",
    ),
    Row("chunk after [DONE]", "stream", STREAM_LLAMA + _sse(_chunk("late"), done=False), REASON_AFTER_DONE),
    Row("stream with no finish_reason", "stream", _sse(_chunk("Hi"), _chunk(" there")), REASON_NO_FINISH),
    Row("only [DONE]", "stream", _sse(), REASON_EMPTY_STREAM),
    Row("a completion instead of a stream", "stream", _j(LLAMA_CPP), REASON_NO_EVENTS),
    Row("empty stream body", "stream", b"", REASON_NO_EVENTS),
    Row(
        "chunk created 1e400",
        "stream",
        _sse(_chunk("Hi", finish="stop")).replace(b"1733000000", b"1e400"),
        "chunks[0].created: expected a finite number",
    ),
    Row(
        "chunk nested past the recursion limit",
        "stream",
        _sse(_deep(100_000), _chunk("Hi", finish="stop")),
        "chunks[0]: not JSON",
    ),
    Row(
        "chunk with invalid UTF-8",
        "stream",
        _sse(_chunk("Hi", finish="stop")).replace(b"Hi", b"H\xff"),
        "chunks[0]: not UTF-8",
    ),
    # /v1/models
    Row(
        "OpenAI-style models list",
        "models",
        _j(
            {
                "object": "list",
                "data": [{"id": "gpt-4o-mini", "object": "model", "created": CREATED, "owned_by": "system"}],
            }
        ),
        None,
    ),
    Row(
        "vLLM models list",
        "models",
        _j(
            {
                "object": "list",
                "data": [
                    {
                        "id": "Qwen/Qwen2.5-0.5B-Instruct",
                        "object": "model",
                        "created": CREATED,
                        "owned_by": "vllm",
                        "root": "Qwen/Qwen2.5-0.5B-Instruct",
                        "parent": None,
                        "max_model_len": 32768,
                        "permission": [{}],
                    }
                ],
            }
        ),
        None,
    ),
    Row(
        "LiteLLM models list",
        "models",
        _j(
            {
                "data": [{"id": "mock-gpt", "object": "model", "created": 1677610602, "owned_by": "openai"}],
                "object": "list",
            }
        ),
        None,
    ),
    Row(
        "llama-cpp-python models list (no created)",
        "models",
        _j(
            {
                "object": "list",
                "data": [{"id": "tiny.gguf", "object": "model", "owned_by": "me", "permissions": []}],
            }
        ),
        "data[0].created: field required",
    ),
    Row(
        "models list without object",
        "models",
        _j({"data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]}),
        'object: expected "list"',
    ),
    Row("empty models list", "models", _j({"object": "list", "data": []}), REASON_NO_MODEL),
    Row(
        "models data not a list",
        "models",
        _j({"object": "list", "data": {"id": "m"}}),
        "data: expected a list",
    ),
    Row(
        "model entry object 'models'",
        "models",
        _j({"object": "list", "data": [{"id": "m", "object": "models", "created": 1, "owned_by": "x"}]}),
        'data[0].object: expected "model"',
    ),
    Row("models list not JSON", "models", b"Not Found", REASON_NOT_JSON),
    Row("models error object", "models", b'{"error": {"message": "unauthorized"}}', REASON_ERROR_OBJECT),
]


def _judge(row: Row) -> list[str]:
    if row.kind == "completion":
        return check_completion(row.body)
    if row.kind == "chunk":
        document, problem = parse_json(row.body)
        return [problem] if problem else chunk_problems(document)
    if row.kind == "stream":
        return check_stream(row.body).problems
    return check_models(row.body)


def test_the_table_is_big_and_covers_every_kind() -> None:
    assert len(ROWS) >= 40
    assert len({row.name for row in ROWS}) == len(ROWS)
    assert {row.kind for row in ROWS} == {"completion", "chunk", "stream", "models"}
    assert sum(row.first is None for row in ROWS) >= 10
    assert sum(row.first is not None for row in ROWS) >= 30


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_each_answer_gets_its_one_verdict(row: Row) -> None:
    problems = _judge(row)
    assert first_problem(problems) == row.first, problems
    # exactly the rules the answer breaks, no echo of the others
    assert problems == ([row.first, *row.also] if row.first else []), problems
    for reason in problems:
        assert len(reason) <= MAX_REASON_CHARS
        assert ": " in reason  # every reason names a path


def _moderation(categories: dict[str, Any]) -> dict[str, Any]:
    result = {
        "categories": categories,
        "category_applied_input_types": {},
        "category_scores": {},
        "flagged": False,
        "model": "omni-moderation-latest",
        "type": "moderation_result",
    }
    results = {"type": "moderation_results", "model": "omni-moderation-latest", "results": [result]}
    return {"input": results, "output": results}


def test_reasons_never_echo_the_body() -> None:
    secret = "sk-cu_prodml_hw_week13-LEAK"
    bodies = [
        _j(_with(LLAMA_CPP, "choices", 0, "message", "role", secret)),
        _j(_with(LLAMA_CPP, "created", secret)),
        _j(_with(LLAMA_CPP, "object", secret)),
        _j({"error": {"message": secret}}),
        _j({"id": secret, "choices": secret}),
        _j(_with(OPENAI_TOOLS, "choices", 0, "message", "tool_calls", 0, "type", secret)),
        _j({**LITELLM, "moderation": _moderation({"sk_leak_week13": "maybe"})}),  # a key in a path
    ]
    for body in bodies:
        for reason in check_completion(body) + check_models(body):
            assert "LEAK" not in reason and "week13" not in reason
    stream = _sse(_chunk(secret, role=secret, finish=secret), secret)
    for reason in check_stream(stream).problems:
        assert "LEAK" not in reason


def test_models_health_counts_any_json_as_up() -> None:
    llama_cpp_python = _j(
        {"object": "list", "data": [{"id": "tiny.gguf", "object": "model", "owned_by": "me"}]}
    )
    assert models_health_problem(llama_cpp_python) is None
    assert check_models(llama_cpp_python) == ["data[0].created: field required"]
    assert models_health_problem(b"{}") is None
    assert models_health_problem(b"<html>") == REASON_NOT_JSON


def test_warm_up_loads_the_types_once() -> None:
    llm_contract.warm_up()
    llm_contract.warm_up()
    assert llm_contract._openai_types.cache_info().currsize == 1
    assert check_completion(_j(VLLM)) == []


def test_field_paths() -> None:
    body = _j({**LITELLM, "moderation": _moderation({"sk_leak": "maybe"})})
    assert check_completion(body)[0] == "moderation.input.results[0].categories.*: expected a boolean"
    assert field_path(("choices", 0, "message", "role")) == "choices[0].message.role"
    assert field_path(()) == "body"
    assert field_path((3,), "data") == "data[3]"
    assert field_path(("created",), "chunks[2]") == "chunks[2].created"
    assert field_path(("tool_calls", 0, "ChatCompletionMessageFunctionToolCall", "function")) == (
        "tool_calls[0].function"
    )


def test_first_problem_is_short() -> None:
    assert first_problem([]) is None
    assert first_problem(["a: b", "c: d"]) == "a: b"
    long = first_problem(["x: " + "y" * 1000])
    assert long is not None and len(long) == MAX_REASON_CHARS


def test_a_hopeless_body_gives_a_few_reasons() -> None:
    body = _j(
        {"choices": [{"message": {"role": "bot", "content": 1}, "finish_reason": 2}] * 50, "created": "x"}
    )
    problems = check_completion(body)
    assert 1 <= len(problems) <= 8


# --- requests --------------------------------------------------------------------------


def test_chat_body_streamed_asks_for_usage() -> None:
    document = json.loads(chat_body(model="mock-gpt", prompt="Привет", stream=True))
    assert document == {
        "model": "mock-gpt",
        "messages": [{"role": "user", "content": "Привет"}],
        "max_tokens": DEFAULT_MAX_TOKENS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    plain = json.loads(chat_body(model="m", prompt='a "quoted" }', max_tokens=4, stream=False))
    assert plain["stream"] is False and "stream_options" not in plain
    assert plain["max_tokens"] == 4 and plain["messages"][0]["content"] == 'a "quoted" }'


def test_prompts_are_shipped_varied_and_picked_deterministically() -> None:
    assert 35 <= len(PROMPTS) <= 50
    assert len(set(PROMPTS)) == len(PROMPTS)
    assert all(0 < len(p) <= 120 for p in PROMPTS)
    assert sum(any("а" <= ch <= "я" for ch in p.lower()) for p in PROMPTS) >= 5
    # one target walks the whole set; targets start apart; the same inputs give the same prompt
    assert {pick_prompt(5, slot) for slot in range(len(PROMPTS))} == set(PROMPTS)
    assert len({pick_prompt(target, 0) for target in range(len(PROMPTS))}) == len(PROMPTS)
    assert pick_prompt(17, 3) == pick_prompt(17, 3)
    assert pick_prompt(-1, -9) in PROMPTS


def test_finish_reasons_are_the_types() -> None:
    from openai.types.chat.chat_completion import Choice

    assert set(Choice.model_fields["finish_reason"].annotation.__args__) == FINISH_REASONS  # type: ignore[union-attr]


# --- SSE parsing -----------------------------------------------------------------------

SPLIT_SAMPLE = (
    "\ufeff: hello\r\n"
    "event: message\r\n"
    'data: {"choices": [{"delta": {"content": "Привет, мир ✓ 🙂"}}]}\r\n'
    "\r\n"
    "id: 7\n"
    "retry: 100\n"
    "data: line one\n"
    "data:line two\n"
    "data\n"
    "\n"
    ": ping\r"
    "data: cr only\r"
    "\r"
    "event: lonely\n"
    "\n"
    "data: [DONE]\n"
    "\n"
).encode("utf-8")
SPLIT_EXPECTED = [
    SseEvent('{"choices": [{"delta": {"content": "Привет, мир ✓ 🙂"}}]}', False, "message"),
    SseEvent("line one\nline two\n", False),
    SseEvent("cr only", False),
    SseEvent("[DONE]", True),
]


def _events(pieces: list[bytes]) -> list[SseEvent]:
    parser = SseParser()
    events: list[SseEvent] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    return events + parser.close()


def test_sse_events_of_the_sample() -> None:
    assert _events([SPLIT_SAMPLE]) == SPLIT_EXPECTED


def test_sse_same_events_at_every_split_point() -> None:
    for cut in range(len(SPLIT_SAMPLE) + 1):
        assert _events([SPLIT_SAMPLE[:cut], SPLIT_SAMPLE[cut:]]) == SPLIT_EXPECTED, cut
    assert _events([bytes([b]) for b in SPLIT_SAMPLE]) == SPLIT_EXPECTED
    for a in range(0, len(SPLIT_SAMPLE), 7):
        for b in range(a, len(SPLIT_SAMPLE), 11):
            assert _events([SPLIT_SAMPLE[:a], SPLIT_SAMPLE[a:b], SPLIT_SAMPLE[b:]]) == SPLIT_EXPECTED


@pytest.mark.parametrize("stream", [STREAM_LLAMA, STREAM_VLLM, STREAM_LITELLM, STREAM_PINGS])
def test_stream_verdict_is_the_same_at_every_split_point(stream: bytes) -> None:
    whole = check_stream(stream)
    for cut in range(len(stream) + 1):
        parser = SseParser()
        events = parser.feed(stream[:cut]) + parser.feed(stream[cut:]) + parser.close()
        check = StreamCheck()
        for index, event in enumerate(events):
            check.add(event, (index + 1) / 1000.0)
        assert check.finish(0.0, len(events) / 1000.0 + 0.001) == whole, cut


def test_sse_marks_invalid_utf8_and_goes_on() -> None:
    parser = SseParser()
    events = parser.feed(b"data: a\xffb\n\ndata: ok\n\n")
    assert events == [SseEvent("a\ufffdb", False, None, True), SseEvent("ok", False)]


def test_sse_unfinished_event_is_dropped_unless_done() -> None:
    parser = SseParser()
    assert parser.feed(b'data: {"half": ') == []
    assert parser.close() == []
    parser = SseParser()
    assert parser.feed(b"data: [DONE]\r") == []  # the CR may be half a CRLF
    assert parser.close() == [SseEvent("[DONE]", True)]
    parser = SseParser()
    assert parser.feed(b"data: [DONE]") == []
    assert parser.close() == [SseEvent("[DONE]", True)]


def test_sse_done_needs_no_blank_line() -> None:
    # A prober that never calls close() still sees a terminator one newline short.
    parser = SseParser()
    assert parser.feed(b"data: {}\n\ndata: [DONE]\n") == [SseEvent("{}", False), SseEvent("[DONE]", True)]
    assert parser.feed(b"\n") == [] and parser.close() == []


def test_sse_parser_scans_each_byte_about_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A long line fed a few bytes at a time: rescanning the pending line on every feed would
    # scan ~n^2/6 bytes (quadratic); the parser must scan each byte a bounded number of times.
    scanned = 0
    real = llm_contract._EOL

    class CountingEol:
        def search(self, buffer: bytearray, position: int) -> Any:
            nonlocal scanned
            match = real.search(buffer, position)
            scanned += (match.end() if match else len(buffer)) - position
            return match

    monkeypatch.setattr(llm_contract, "_EOL", CountingEol())
    line = b"data: " + b"x" * 30_000 + b"\r\n\r\n"
    parser = SseParser()
    events: list[SseEvent] = []
    for index in range(0, len(line), 3):
        events.extend(parser.feed(line[index : index + 3]))
    assert len(events) == 1 and len(events[0].data) == 30_000
    assert scanned <= 2 * len(line)


# --- stream measures -------------------------------------------------------------------


def _run(events: list[tuple[bytes, float]], started: float, ended: float) -> Any:
    parser = SseParser()
    check = StreamCheck()
    for raw, at in events:
        for event in parser.feed(raw):
            check.add(event, at)
    for event in parser.close():
        check.add(event, ended)
    return check.finish(started, ended)


def test_ttft_itl_and_tokens_from_usage() -> None:
    verdict = _run(
        [
            (_sse(_chunk(role="assistant", content=""), done=False), 10.05),  # empty content: not a token
            (_sse(_chunk("Hel"), done=False), 10.20),
            (_sse(_chunk("lo"), done=False), 10.30),
            (_sse(_chunk("!"), done=False), 10.50),
            (_sse(_chunk(None, finish="stop"), done=False), 10.55),
            (_sse(USAGE_CHUNK), 10.60),
        ],
        started=10.0,
        ended=10.70,
    )
    assert verdict.problems == []
    assert verdict.saw_done and verdict.chunks == 6 and verdict.content_chunks == 3
    assert verdict.content == "Hello!"
    assert verdict.ttft_ms == pytest.approx(200.0)
    assert verdict.itl_ms == pytest.approx(150.0)  # gaps 100 and 200 ms
    assert (verdict.output_tokens, verdict.tokens_source) == (3, "usage")
    assert verdict.tokens_per_s == pytest.approx(3 / 0.5)
    assert verdict.e2e_ms == pytest.approx(700.0)


def test_tokens_counted_from_chunks_without_usage() -> None:
    verdict = _run(
        [(_sse(_chunk("a"), done=False), 1.1), (_sse(_chunk("b"), _chunk("c", finish="stop")), 1.3)],
        started=1.0,
        ended=1.5,
    )
    assert verdict.problems == []
    assert (verdict.output_tokens, verdict.tokens_source) == (3, "chunks")
    assert verdict.ttft_ms == pytest.approx(100.0)
    assert verdict.itl_ms == pytest.approx(100.0)  # 1.1 -> 1.3 -> 1.3
    assert verdict.tokens_per_s == pytest.approx(3 / 0.4)


def test_no_content_means_no_ttft_and_no_rate() -> None:
    verdict = _run([(_sse(_chunk(None, role="assistant", finish="length")), 2.0)], started=1.0, ended=2.0)
    assert verdict.problems == []
    assert verdict.ttft_ms is None and verdict.itl_ms is None and verdict.tokens_per_s is None
    assert (verdict.output_tokens, verdict.tokens_source) == (0, "chunks")
    one = _run([(_sse(_chunk("x", finish="stop")), 1.5)], started=1.0, ended=1.5)
    assert one.ttft_ms == pytest.approx(500.0) and one.itl_ms is None and one.tokens_per_s is None


def test_content_memory_is_bounded() -> None:
    check = StreamCheck(max_content_chars=1000)
    for index in range(500):
        check.add(SseEvent(json.dumps(_chunk("y" * 100)), False), float(index))
    check.add(SseEvent(json.dumps(_chunk(None, finish="stop")), False), 500.0)
    check.add(SseEvent("[DONE]", True), 500.0)
    verdict = check.finish(0.0, 501.0)
    assert verdict.problems == []
    assert len(verdict.content) == 1000 and verdict.content_truncated
    assert verdict.content_chunks == 500 and verdict.output_tokens == 500


def test_many_bad_chunks_give_a_bounded_list() -> None:
    check = StreamCheck()
    for index in range(1000):
        check.add(SseEvent(json.dumps(_chunk("x", role="bot")), False), float(index))
    check.add(SseEvent("[DONE]", True), 1000.0)
    problems = check.finish(0.0, 1001.0).problems
    assert problems[:3] == [f'chunks[{i}].choices[0].delta.role: expected "assistant"' for i in range(3)]
    assert "chunks: 997 more chunks with problems" in problems
    assert len(problems) <= 6


def test_model_ids_read_leniently() -> None:
    body = _j({"object": "list", "data": [{"id": "tiny.gguf", "object": "model"}, {"id": 3}, "x"]})
    assert model_ids(body) == ["tiny.gguf"]
    assert model_ids(b"nope") == [] and model_ids(b'{"data": 1}') == []


# --- the official client, over a real socket -------------------------------------------


class _Fixed(BaseHTTPRequestHandler):
    """Answers every request with the body registered for the path's first segment."""

    bodies: dict[str, tuple[str, bytes]] = {}
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment, without Nagle: else each kept-alive answer waits
    # for the client's delayed ACK (40 ms), and a thousand answers take a minute.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        content_type, body = self.bodies[self.path.split("/")[1]]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return


@pytest.fixture(scope="module")
def fixed_server() -> Iterator[Callable[[str, str, bytes], str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(key: str, content_type: str, body: bytes) -> str:
        _Fixed.bodies[key] = (content_type, body)
        return f"http://127.0.0.1:{server.server_address[1]}/{key}/v1"

    try:
        yield serve
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@functools.cache
def _client(base_url: str) -> Any:
    """One client per base URL: building one loads certificates, which costs more than a request."""
    import openai

    return openai.OpenAI(
        base_url=base_url, api_key="test-key", max_retries=0, timeout=10.0, _strict_response_validation=True
    )


def _client_accepts_completion(base_url: str) -> bool:
    import openai

    try:
        _client(base_url).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    except (openai.APIResponseValidationError, ValueError):  # JSONDecodeError, UnicodeDecodeError
        return False
    return True


def _client_accepts_stream(base_url: str) -> bool:
    import openai

    try:
        stream = _client(base_url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for _ in stream:
            pass
    except (openai.APIResponseValidationError, openai.APIError, ValueError):  # ValueError: not JSON
        return False
    return True


def _client_accepts_models(base_url: str) -> bool:
    import openai

    try:
        list(_client(base_url).models.list())
    except (openai.APIResponseValidationError, ValueError):  # JSONDecodeError, UnicodeDecodeError
        return False
    return True


# Rows where the client and clfwatch must agree, and the few where clfwatch is stricter on
# purpose (what the types allow but a client or a grader still needs).
AGREE = {
    "completion": [
        "llama.cpp answer",
        "vLLM answer",
        "LiteLLM answer",
        "OpenAI tool call",
        "created as a numeric string (the client coerces)",
        "no object",
        "object of a chunk",
        'role "bot"',
        "no created",
        'finish_reason "banana"',
        "a classifier's answer",
        "error object with a 200",
        "created 1e400",
        "created 1.5",
        "not JSON",
        "byte order mark (json.loads on bytes allows it, as in the client)",
        "invalid UTF-8",
    ],
    "stream": [
        "llama.cpp stream",
        "vLLM stream with usage",
        "LiteLLM stream, CRLF",
        "pings, events, multi-line data, [DONE] one newline short",
        'stream role "bot"',
        "stream without object",
        "chunk created 1e400",
        "non-JSON chunk",
        "error object mid-stream",
    ],
    "models": [
        "OpenAI-style models list",
        "vLLM models list",
        "LiteLLM models list",
        "llama-cpp-python models list (no created)",
        "model entry object 'models'",
        "models list without object",
    ],
}
STRICTER = {
    "completion": ["choices: []", "JSON null"],
    "stream": [
        "stream without [DONE]",
        "stream stopping halfway",
        "stream with no finish_reason",
        "chunk after [DONE]",
    ],
    "models": ["empty models list"],
}
_ACCEPTS = {
    "completion": _client_accepts_completion,
    "stream": _client_accepts_stream,
    "models": _client_accepts_models,
}
_CONTENT_TYPES = {
    "completion": "application/json",
    "stream": "text/event-stream",
    "models": "application/json",
}


@pytest.mark.parametrize(
    ("kind", "name", "stricter"),
    [(kind, name, False) for kind, names in AGREE.items() for name in names]
    + [(kind, name, True) for kind, names in STRICTER.items() for name in names],
)
def test_official_client_agrees(
    fixed_server: Callable[[str, str, bytes], str], kind: str, name: str, stricter: bool
) -> None:
    row = next(row for row in ROWS if row.name == name)
    assert row.kind == kind
    key = f"{kind}-{ROWS.index(row)}"
    client_ok = _ACCEPTS[kind](fixed_server(key, _CONTENT_TYPES[kind], row.body))
    ours_ok = _judge(row) == []
    if stricter:
        assert client_ok and not ours_ok, "a deliberate extra check: the client accepts, clfwatch does not"
    else:
        assert client_ok == ours_ok, f"client {'accepts' if client_ok else 'refuses'}; clfwatch {_judge(row)}"


# --- every one-field mutation of the valid answers, through the official client ---------

_MUTANTS: tuple[Any, ...] = (None, "x", 1.5, True, [], {})
_DROP = object()


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from _paths(value, (*path, index))


def _mutated(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(document)
    node = out
    for step in path[:-1]:
        node = node[step]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def _mutations(document: Any) -> Iterator[tuple[str, Any]]:
    for path in _paths(document):
        for value in (_DROP, *_MUTANTS):
            yield f"{path} -> {'drop' if value is _DROP else repr(value)}", _mutated(document, path, value)


@pytest.fixture(scope="module")
def official(fixed_server: Callable[[str, str, bytes], str]) -> Callable[[str, bytes], bool]:
    """Whether the official strict client accepts ``body`` as an answer of ``kind``: one client per kind."""
    urls = {kind: fixed_server(f"mutant-{kind}", _CONTENT_TYPES[kind], b"") for kind in _ACCEPTS}

    def accepts(kind: str, body: bytes) -> bool:
        fixed_server(f"mutant-{kind}", _CONTENT_TYPES[kind], body)
        return _ACCEPTS[kind](urls[kind])

    return accepts


def _disagreements(
    cases: Iterator[tuple[str, Any]],
    kind: str,
    official: Callable[[str, bytes], bool],
    client_should_accept: Callable[[Any, list[str]], bool],
    judge: Callable[[bytes], list[str]],
) -> tuple[int, list[str]]:
    count, wrong = 0, []
    for label, document in cases:
        body = _j(document)
        problems = judge(body)
        expected = client_should_accept(document, problems)
        count += 1
        if official(kind, body) != expected:
            wrong.append(f"{label}: clfwatch {problems}")
    return count, wrong


def test_every_one_field_mutation_of_a_completion_gets_the_clients_verdict(
    official: Callable[[str, bytes], bool],
) -> None:
    # The client must accept exactly the mutants clfwatch accepts, plus those whose only
    # problem is one of clfwatch's deliberate extras.
    def client_should_accept(_: Any, problems: list[str]) -> bool:
        return set(problems) <= {REASON_NO_CHOICE}

    total = 0
    for document in (LLAMA_CPP, VLLM, LITELLM, OPENAI_TOOLS):
        count, wrong = _disagreements(
            _mutations(document), "completion", official, client_should_accept, check_completion
        )
        total += count
        assert wrong == [], wrong[:5]
    assert total >= 500


def test_every_one_field_mutation_of_a_stream_chunk_gets_the_clients_verdict(
    official: Callable[[str, bytes], bool],
) -> None:
    # Stream-level rules ([DONE], finish_reason) are clfwatch's extras; chunk reasons must agree.
    chunks = [_chunk("Hi", role="assistant", server="vllm"), _chunk(" there", finish="stop", server="vllm")]

    def cases() -> Iterator[tuple[str, Any]]:
        for index, chunk in enumerate([*chunks, USAGE_CHUNK]):
            for label, mutant in _mutations(chunk):
                stream = [*chunks, USAGE_CHUNK]
                stream[index] = mutant
                yield f"chunk {index} {label}", stream

    def judge(body: bytes) -> list[str]:
        return check_stream(_sse(*json.loads(body))).problems

    def client_should_accept(_: Any, problems: list[str]) -> bool:
        return not any(reason.startswith("chunks[") for reason in problems)

    def official_stream(kind: str, body: bytes) -> bool:
        return official(kind, _sse(*json.loads(body)))

    count, wrong = _disagreements(cases(), "stream", official_stream, client_should_accept, judge)
    assert wrong == [], wrong[:5]
    assert count >= 150


def test_every_one_field_mutation_of_a_models_list_gets_the_clients_verdict(
    official: Callable[[str, bytes], bool],
) -> None:
    document = {
        "object": "list",
        "data": [
            {
                "id": "m1",
                "object": "model",
                "created": CREATED,
                "owned_by": "vllm",
                "root": "m1",
                "parent": None,
            },
            {"id": "m2", "object": "model", "created": CREATED, "owned_by": "vllm"},
        ],
    }

    def client_should_accept(mutant: Any, problems: list[str]) -> bool:
        # The client's page only wants ``object`` to be a string; clfwatch wants "list".
        extras = {REASON_NO_MODEL} | (
            {'object: expected "list"'} if isinstance(mutant.get("object"), str) else set()
        )
        return set(problems) <= extras

    count, wrong = _disagreements(
        _mutations(document), "models", official, client_should_accept, check_models
    )
    assert wrong == [], wrong[:5]
    assert count >= 80
