"""The faulty servers are faulty in exactly one way each: checks that rely on them can trust that.

Each defect is shown with the official ``openai`` client in strict mode where the client notices,
and on the wire where it does not (an empty ``choices``, a missing ``[DONE]`` and a cut stream
pass its types, which is why clfwatch checks more than the types).
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.llm.servers import Defect, LlmServer, faulty_llm_server, strict_client

MESSAGES = [{"role": "user", "content": "hello"}]


def raw_stream(server: LlmServer) -> tuple[list[str], str | None]:
    """The data lines of a streamed answer, and the name of the error that ended it early (if any)."""
    lines: list[str] = []
    try:
        with httpx.stream("POST", f"{server.v1}/chat/completions", timeout=10.0,
                          headers={"authorization": f"Bearer {server.key}"},
                          json={"model": server.model, "messages": MESSAGES, "stream": True}) as response:
            assert response.status_code == 200
            lines.extend(line for line in response.iter_lines() if line)
    except httpx.RemoteProtocolError as exc:
        return lines, type(exc).__name__
    return lines, None


def raw_completion(server: LlmServer, **extra: object) -> httpx.Response:
    return httpx.post(f"{server.v1}/chat/completions", headers={"authorization": f"Bearer {server.key}"},
                      json={"model": server.model, "messages": MESSAGES, **extra}, timeout=10.0)


@pytest.mark.parametrize("defect", list(Defect))
def test_models_list_and_health_are_sound_everywhere(defect: Defect) -> None:
    with faulty_llm_server(defect) as server:
        assert [m.id for m in strict_client(server).models.list().data] == [server.model]
        assert httpx.get(f"{server.base_url}/health").json() == {"status": "ok"}


@pytest.mark.parametrize("defect", [Defect.NO_OBJECT, Defect.ROLE_BOT])
def test_strict_client_refuses_the_broken_types(defect: Defect) -> None:
    with faulty_llm_server(defect) as server, pytest.raises(openai.APIResponseValidationError):
        strict_client(server).chat.completions.create(
            model=server.model, messages=MESSAGES,  # type: ignore[arg-type]
        )


def test_no_object() -> None:
    with faulty_llm_server(Defect.NO_OBJECT) as server:
        assert "object" not in raw_completion(server).json()
        lines, cut = raw_stream(server)
        assert cut is None and lines[-1] == "data: [DONE]"
        assert all("object" not in json.loads(line[6:]) for line in lines[:-1])


def test_empty_choices() -> None:
    with faulty_llm_server(Defect.EMPTY_CHOICES) as server:
        assert raw_completion(server).json()["choices"] == []
        lines, _ = raw_stream(server)
        assert all(json.loads(line[6:])["choices"] == [] for line in lines[:-1])


def test_role_bot() -> None:
    with faulty_llm_server(Defect.ROLE_BOT) as server:
        assert raw_completion(server).json()["choices"][0]["message"]["role"] == "bot"
        lines, _ = raw_stream(server)
        assert json.loads(lines[0][6:])["choices"][0]["delta"]["role"] == "bot"


def test_no_done() -> None:
    with faulty_llm_server(Defect.NO_DONE) as server:
        lines, cut = raw_stream(server)
        assert cut is None and lines and "[DONE]" not in "".join(lines)
        assert json.loads(lines[-1][6:])["choices"][0]["finish_reason"] == "stop"


def test_stream_cut_closes_the_connection_halfway() -> None:
    with faulty_llm_server(Defect.STREAM_CUT) as server:
        lines, cut = raw_stream(server)
        assert cut == "RemoteProtocolError"
        assert len(lines) == 3  # the role chunk and two words, then nothing
        stream = strict_client(server).chat.completions.create(
            model=server.model, messages=MESSAGES, stream=True,  # type: ignore[arg-type]
        )
        with pytest.raises(httpx.RemoteProtocolError):  # the client passes the cut on, unwrapped
            list(stream)
        assert raw_completion(server).status_code == 200  # non-streamed answers are whole


def test_auth_not_enforced() -> None:
    with faulty_llm_server(Defect.AUTH_NOT_ENFORCED) as server:
        assert httpx.get(f"{server.v1}/models").status_code == 200
        wrong = strict_client(server, key="wrong-key").chat.completions.create(
            model=server.model, messages=MESSAGES,  # type: ignore[arg-type]
        )
        assert wrong.choices[0].message.role == "assistant"
    with faulty_llm_server(Defect.NO_OBJECT) as sound_auth:
        assert httpx.get(f"{sound_auth.v1}/models").status_code == 401
        with pytest.raises(openai.AuthenticationError):
            strict_client(sound_auth, key="wrong-key").models.list()


def test_crash_on_negative_max_tokens() -> None:
    with faulty_llm_server(Defect.CRASH_ON_NEGATIVE_MAX_TOKENS) as server:
        assert raw_completion(server, max_tokens=-1).status_code == 500
        assert raw_completion(server, max_tokens=5).status_code == 200
    with faulty_llm_server(Defect.NO_OBJECT) as other:
        assert raw_completion(other, max_tokens=-1).status_code == 200  # the others ignore it: no crash
