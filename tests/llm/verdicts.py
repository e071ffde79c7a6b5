"""Ask an OpenAI-compatible server the contract's questions and collect core/llm_contract's verdicts.

One function per check, each returning the problems ([] = passed), so a test can say which
checks a server fails: a faulty server must fail exactly the ones its defect breaks.
"""

from __future__ import annotations

import time

import httpx

from core.llm_contract import (
    SseParser,
    StreamCheck,
    StreamVerdict,
    chat_body,
    check_completion,
    check_models,
)
from tests.llm.servers import LlmServer

PROMPT = "Say something about monitoring."
TIMEOUT_S = 15.0
AUTH_REFUSALS = {401, 403}
CHECKS = ("models", "completion", "stream", "auth", "bad_request")


def _headers(server: LlmServer) -> dict[str, str]:
    return {"authorization": f"Bearer {server.key}", "content-type": "application/json"}


def models_problems(server: LlmServer) -> list[str]:
    response = httpx.get(f"{server.v1}/models", headers=_headers(server), timeout=TIMEOUT_S)
    if response.status_code != 200:
        return [f"status {response.status_code}"]
    return check_models(response.content)


def completion_problems(server: LlmServer) -> list[str]:
    body = chat_body(model=server.model, prompt=PROMPT, stream=False)
    response = httpx.post(f"{server.v1}/chat/completions", content=body, headers=_headers(server),
                          timeout=TIMEOUT_S)
    if response.status_code != 200:
        return [f"status {response.status_code}"]
    return check_completion(response.content)


def stream_verdict(server: LlmServer) -> StreamVerdict:
    """A streamed completion judged chunk by chunk as it arrives; a cut body is judged as far as it got."""
    parser, check = SseParser(), StreamCheck()
    body = chat_body(model=server.model, prompt=PROMPT, stream=True)
    started = time.monotonic()
    try:
        with httpx.stream("POST", f"{server.v1}/chat/completions", content=body, headers=_headers(server),
                          timeout=TIMEOUT_S) as response:
            assert response.status_code == 200, response.status_code
            for piece in response.iter_raw():
                now = time.monotonic()
                for event in parser.feed(piece):
                    check.add(event, now)
    except httpx.RemoteProtocolError:
        pass  # the connection closed mid-body: the verdict says what was missing
    for event in parser.close():
        check.add(event, time.monotonic())
    return check.finish(started, time.monotonic())


def auth_problems(server: LlmServer) -> list[str]:
    """No key and a wrong key must be refused (401/403) on both routes."""
    problems = []
    for name, headers in (("no key", {}), ("wrong key", {"authorization": "Bearer wrong-key-0000"})):
        models = httpx.get(f"{server.v1}/models", headers=headers, timeout=TIMEOUT_S)
        chat = httpx.post(f"{server.v1}/chat/completions", headers=headers, timeout=TIMEOUT_S,
                          content=chat_body(model=server.model, prompt=PROMPT, stream=False))
        problems += [f"{name}: {route} answered {r.status_code}" for route, r in
                     (("models", models), ("chat", chat)) if r.status_code not in AUTH_REFUSALS]
    return problems


def bad_request_problems(server: LlmServer) -> list[str]:
    """``max_tokens: -1`` must not crash the server (any answer below 500 passes)."""
    body = b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}' % (
        server.model.encode()
    )
    response = httpx.post(f"{server.v1}/chat/completions", content=body, headers=_headers(server),
                          timeout=TIMEOUT_S)
    return [f"max_tokens -1 answered {response.status_code}"] if response.status_code >= 500 else []


def failing_checks(server: LlmServer) -> dict[str, list[str]]:
    """Every check's problems, for the checks that fail."""
    results = {
        "models": models_problems(server),
        "completion": completion_problems(server),
        "stream": stream_verdict(server).problems,
        "auth": auth_problems(server),
        "bad_request": bad_request_problems(server),
    }
    return {name: problems for name, problems in results.items() if problems}
