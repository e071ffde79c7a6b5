"""The demo LLM against the official ``openai`` client in strict mode, and its refusals.

The client validates every answer with its own types when ``_strict_response_validation`` is on,
so an answer it accepts is one a student's bot accepts too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from service.llm_demo import (
    CONTEXT_WINDOW_TOKENS,
    DEMO_MODEL,
    MAX_BODY_BYTES,
    MAX_OUTPUT_TOKENS,
    MarkovChain,
    load_chain,
)
from tests.llm.servers import LlmServer, strict_client

PROMPT = "How should a team watch its model service?"
ERROR_FIELDS = {"message", "type", "param", "code"}


client = strict_client


def chat_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": DEMO_MODEL, "messages": [{"role": "user", "content": PROMPT}],
                            "max_tokens": 16}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def raw(demo_llm: LlmServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo_llm.base_url, timeout=10.0,
                      headers={"authorization": f"Bearer {demo_llm.key}"}) as http:
        yield http


def assert_openai_error(response: httpx.Response, status: int, *, code: str | None = None,
                        param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == ERROR_FIELDS
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return dict(error)


def test_health_needs_no_key(demo_llm: LlmServer) -> None:
    response = httpx.get(f"{demo_llm.base_url}/health", timeout=5.0)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_models_list_passes_strict_client(demo_llm: LlmServer) -> None:
    models = client(demo_llm).models.list()
    assert [m.id for m in models.data] == [DEMO_MODEL]
    assert models.data[0].object == "model" and models.data[0].owned_by == "clfwatch"
    assert client(demo_llm).models.retrieve(DEMO_MODEL).id == DEMO_MODEL


def test_completion_passes_strict_client(demo_llm: LlmServer) -> None:
    completion = client(demo_llm).chat.completions.create(
        model=DEMO_MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=16,
    )
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in {"stop", "length"}
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(PROMPT.split())
    assert completion.usage.completion_tokens == len(choice.message.content.split()) <= 16


def test_same_prompt_same_answer_other_prompt_other_answer(demo_llm: LlmServer) -> None:
    def answer(prompt: str) -> str | None:
        return client(demo_llm).chat.completions.create(
            model=DEMO_MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=32,
        ).choices[0].message.content

    assert answer(PROMPT) == answer(PROMPT)
    assert len({answer(f"{PROMPT} {i}") for i in range(5)}) > 1


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_passes_strict_client(demo_llm: LlmServer, include_usage: bool) -> None:
    kwargs: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = client(demo_llm).chat.completions.create(
        model=DEMO_MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=16, stream=True,
        **kwargs,
    )
    chunks = list(stream)  # iterates to the end: the client stops at [DONE]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    with_choice = [c for c in chunks if c.choices]
    content = [c.choices[0].delta.content for c in with_choice[1:] if c.choices[0].delta.content]
    assert len(content) >= 1
    assert [c.choices[0].finish_reason for c in with_choice][-1] in {"stop", "length"}
    assert all(c.choices[0].finish_reason is None for c in with_choice[:-1])
    whole = client(demo_llm).chat.completions.create(
        model=DEMO_MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=16,
    )
    assert "".join(content) == whole.choices[0].message.content  # streamed or not, the same text
    if include_usage:
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == len(content)
    else:
        assert all(c.usage is None for c in chunks)


def test_stream_wire_format(raw: httpx.Client) -> None:
    with raw.stream("POST", "/v1/chat/completions", json=chat_body(stream=True)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = text.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events[:-1])
    first = json.loads(events[0].removeprefix("data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_max_tokens_caps_the_answer(demo_llm: LlmServer) -> None:
    completion = client(demo_llm).chat.completions.create(
        model=DEMO_MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=1,
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 1


def test_large_max_tokens_is_served_up_to_the_output_cap(raw: httpx.Client) -> None:
    response = raw.post("/v1/chat/completions", json=chat_body(max_tokens=CONTEXT_WINDOW_TOKENS - 100))
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] <= MAX_OUTPUT_TOKENS


def test_chain_stops_at_a_sentence_end_or_at_max_tokens() -> None:
    chain = load_chain()
    for seed in range(50):
        words, finish = chain.generate(random.Random(seed), 40)
        assert 1 <= len(words) <= 40
        if finish == "stop":
            assert words[-1].endswith((".", "!", "?"))
        else:
            assert finish == "length" and len(words) == 40
    with pytest.raises(ValueError):
        MarkovChain("two words")


# --- the key -------------------------------------------------------------------------------------

def test_no_key_and_wrong_key_are_refused_by_the_client(demo_llm: LlmServer) -> None:
    for key in ("", "wrong-key-123", demo_llm.key + "x"):
        with pytest.raises(openai.AuthenticationError) as caught:
            client(demo_llm, key=key).chat.completions.create(
                model=DEMO_MODEL, messages=[{"role": "user", "content": PROMPT}],
            )
        assert caught.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            client(demo_llm, key=key).models.list()


@pytest.mark.parametrize("headers", [
    {}, {"authorization": "Bearer nope-wrong-key"}, {"authorization": "Basic dXNlcjpwYXNz"},
    {"authorization": "Bearer"}, {"authorization": "bearer x"},
])
@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions"])
def test_key_required_on_every_v1_route(demo_llm: LlmServer, headers: dict[str, str], path: str) -> None:
    method = "GET" if path == "/v1/models" else "POST"
    response = httpx.request(method, demo_llm.base_url + path, headers=headers, json=chat_body(), timeout=5.0)
    error = assert_openai_error(response, 401)
    assert error["code"] in {"missing_api_key", "invalid_api_key"}
    assert "nope-wrong-key" not in response.text and "dXNlcjpwYXNz" not in response.text  # nor a wrong key


def test_key_never_appears_in_any_answer(demo_llm: LlmServer, raw: httpx.Client) -> None:
    answers = [
        raw.get("/v1/models"), raw.get("/health"), raw.get("/nope"),
        raw.post("/v1/chat/completions", json=chat_body()),
        raw.post("/v1/chat/completions", json=chat_body(stream=True)),
        raw.post("/v1/chat/completions",
                 json=chat_body(messages=[{"role": "user", "content": demo_llm.key}])),
        raw.post("/v1/chat/completions", content=b"{" + demo_llm.key.encode()),
        raw.post("/v1/chat/completions", json=chat_body(model=demo_llm.key)),
        httpx.get(f"{demo_llm.v1}/models", headers={"authorization": f"Bearer {demo_llm.key}-"}),
    ]
    for response in answers:
        assert demo_llm.key not in response.text, response.request.url
        assert demo_llm.key not in str(response.headers)


# --- refusals: OpenAI's error shape, 4xx, never 5xx ------------------------------------------------

LONG_PROMPT = "word " * (CONTEXT_WINDOW_TOKENS + 1)

BAD_REQUESTS: list[tuple[str, Any, int, str | None]] = [
    # (case, body (bytes = raw), status, code)
    ("broken json", b'{"model": "x", "messages": [', 400, None),
    ("not utf-8", b"\xff\xfe{}", 400, None),
    ("json array", b"[]", 400, None),
    ("empty body", b"", 400, None),
    ("missing messages", chat_body(messages=...), 400, "missing_required_parameter"),
    ("empty messages", chat_body(messages=[]), 400, "invalid_value"),
    ("messages not a list", chat_body(messages="hi"), 400, "invalid_value"),
    ("message not an object", chat_body(messages=["hi"]), 400, "invalid_type"),
    ("unknown role", chat_body(messages=[{"role": "bot", "content": "hi"}]), 400, "invalid_value"),
    ("missing role", chat_body(messages=[{"content": "hi"}]), 400, "invalid_value"),
    ("number content", chat_body(messages=[{"role": "user", "content": 42}]), 400, "invalid_type"),
    ("object content", chat_body(messages=[{"role": "user", "content": {"a": 1}}]), 400, "invalid_type"),
    ("null content", chat_body(messages=[{"role": "user", "content": None}]), 400, "invalid_type"),
    ("image part", chat_body(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), 400,
     "invalid_type"),
    ("max_tokens -1", chat_body(max_tokens=-1), 400, "integer_below_min_value"),
    ("max_tokens 0", chat_body(max_tokens=0), 400, "integer_below_min_value"),
    ("max_tokens string", chat_body(max_tokens="16"), 400, "invalid_type"),
    ("max_tokens bool", chat_body(max_tokens=True), 400, "invalid_type"),
    ("max_tokens float", chat_body(max_tokens=1.5), 400, "invalid_type"),
    ("max_tokens absurd", chat_body(max_tokens=10**12), 400, "integer_above_max_value"),
    ("max_completion_tokens -1", chat_body(max_completion_tokens=-1), 400, "integer_below_min_value"),
    ("missing model", chat_body(model=...), 400, "missing_required_parameter"),
    ("n 2", chat_body(n=2), 400, "invalid_value"),
    ("stream not bool", chat_body(stream="yes"), 400, "invalid_type"),
    ("unknown model", chat_body(model="gpt-9"), 404, "model_not_found"),
    ("past the context window", chat_body(messages=[{"role": "user", "content": LONG_PROMPT}]), 400,
     "context_length_exceeded"),
    ("prompt plus max_tokens past the window",
     chat_body(messages=[{"role": "user", "content": "word " * 2000}], max_tokens=100), 400,
     "context_length_exceeded"),
    ("body over the cap", chat_body(messages=[{"role": "user", "content": "x" * (MAX_BODY_BYTES + 1)}]), 413,
     "request_too_large"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_get_openai_errors(raw: httpx.Client, case: str, body: Any, status: int,
                                        code: str | None) -> None:
    if isinstance(body, bytes):
        response = raw.post("/v1/chat/completions", content=body,
                            headers={"content-type": "application/json"})
    else:
        response = raw.post("/v1/chat/completions", json=body)
    assert_openai_error(response, status, code=code)
    assert "Traceback" not in response.text and ".py" not in response.text


def test_context_length_error_reaches_the_client(demo_llm: LlmServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(demo_llm).chat.completions.create(
            model=DEMO_MODEL, messages=[{"role": "user", "content": LONG_PROMPT}], max_tokens=16,
        )
    assert caught.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):
        client(demo_llm).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])


def test_unknown_route_and_method_get_openai_errors(raw: httpx.Client) -> None:
    assert_openai_error(raw.get("/v1/completions"), 404)
    assert_openai_error(raw.get("/v1/chat/completions"), 405)
    assert_openai_error(raw.get("/v1/models/gpt-9"), 404, code="model_not_found")
