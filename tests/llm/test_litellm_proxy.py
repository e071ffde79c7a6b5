"""LiteLLM's proxy, an OpenAI-compatible server we did not write, as a real process.

It proves the fixture is real (the official client in strict mode accepts its answers, streamed
and not) and shows how core/llm_contract judges a server other than ours. Started once per
session from .venv-litellm (``make litellm``); its mock model streams a fixed text.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from core.llm_contract import first_problem
from tests.llm.servers import LITELLM_MOCK_TEXT, LlmServer, strict_client
from tests.llm.verdicts import failing_checks, stream_verdict

MESSAGES: Any = [{"role": "user", "content": "hello"}]


def test_models_and_completion_pass_the_strict_client(litellm_proxy: LlmServer) -> None:
    assert [m.id for m in strict_client(litellm_proxy).models.list().data] == [litellm_proxy.model]
    completion = strict_client(litellm_proxy).chat.completions.create(
        model=litellm_proxy.model, messages=MESSAGES, max_tokens=16,
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == LITELLM_MOCK_TEXT


def test_stream_passes_the_strict_client(litellm_proxy: LlmServer) -> None:
    stream = strict_client(litellm_proxy).chat.completions.create(
        model=litellm_proxy.model, messages=MESSAGES, max_tokens=16, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) > 1  # the mock streams piece by piece, not in one chunk
    assert "".join(content) == LITELLM_MOCK_TEXT
    # LiteLLM's usage chunk keeps a choice with an empty delta (OpenAI's has none): the finish
    # reason is on the chunk before it.
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_no_key_is_refused_with_401(litellm_proxy: LlmServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        strict_client(litellm_proxy, key="").models.list()
    with pytest.raises(openai.AuthenticationError):
        strict_client(litellm_proxy, key="").chat.completions.create(
            model=litellm_proxy.model, messages=MESSAGES,
        )


def test_a_wrong_key_is_refused_but_not_with_401(litellm_proxy: LlmServer) -> None:
    """Without a database LiteLLM cannot look keys up: any key but the master key gets
    400 ``no_db_connection``. Refused, which is what matters, yet not the 401 the course asks for."""
    with pytest.raises(openai.BadRequestError) as caught:
        strict_client(litellm_proxy, key="sk-wrong-key-0000").models.list()
    assert caught.value.status_code == 400


def test_contract_verdicts(litellm_proxy: LlmServer) -> None:
    failing = failing_checks(litellm_proxy)
    # Only the wrong-key answers (400, see above) fail the key check; the schema checks pass.
    assert set(failing) == {"auth"}, failing
    assert all(p.startswith("wrong key:") and p.endswith("answered 400") for p in failing["auth"]), failing
    verdict = stream_verdict(litellm_proxy)
    assert verdict.ok, first_problem(verdict.problems)
    assert verdict.content == LITELLM_MOCK_TEXT and verdict.content_chunks > 1
    assert verdict.ttft_ms is not None and verdict.output_tokens
