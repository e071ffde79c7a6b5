"""Chat probes, health probes and key-enforcement checks of openai-chat targets, on real servers.

A real uvicorn serves a small OpenAI-compatible chat app (``tests/probes/llm_app.py``); raw asyncio
servers send what uvicorn would not (a kept-alive stream, a close-delimited one, a reset, a stall).
Times are asserted by what the server did (a first token sent no sooner than X ms after the
request is a TTFT of at least X ms) and by order, never by how close a number came.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest

from core.contract import Outcome, ProbeKind, TargetKind
from probes.llm import (
    AUTH_PROBE_MAX_TOKENS,
    CHAT_PROBE_MAX_TOKENS,
    DETAIL_STALLED,
    WRONG_KEY,
    check_key_enforcement,
    probe_chat,
    probe_llm_health,
)
from storage.probes import ProbeRow
from storage.targets import ProbeTarget
from tests.probes.llm_app import KEY, MODEL, ChatBehaviour, Seen, create_chat_app
from tests.servers import free_port, uvicorn_thread

TIMEOUT_S = 2.0
CAP = 64 * 1024
FIRST_TOKEN_S = 0.15
ITL_S = 0.02


def llm_target(
    base_url: str, *, token: str | None = KEY, health_path: str = "/health", **kw: Any
) -> ProbeTarget:
    return ProbeTarget(
        id=kw.pop("id", 7), name=kw.pop("name", "llm"), base_url=base_url,
        predict_path="/v1/chat/completions",
        health_path=health_path, request_template=None, probability_pointer="/probability", token=token,
        kind=TargetKind.OPENAI_CHAT, model=kw.pop("model", MODEL), **kw,
    )


@pytest.fixture
def chat_server() -> Iterator[tuple[str, ChatBehaviour, Seen]]:
    behaviour, seen = ChatBehaviour(first_token_s=FIRST_TOKEN_S, itl_s=ITL_S), Seen()
    with uvicorn_thread(create_chat_app(behaviour, seen)) as url:
        yield url, behaviour, seen


def chat(target: ProbeTarget, *, slot: int = 3, timeout_s: float = TIMEOUT_S) -> ProbeRow:
    return asyncio.run(probe_chat(target, slot=slot, timeout_s=timeout_s, cap_bytes=CAP))


def health(target: ProbeTarget) -> ProbeRow:
    return asyncio.run(probe_llm_health(target, timeout_s=TIMEOUT_S, cap_bytes=CAP))


def auth(target: ProbeTarget) -> list[ProbeRow]:
    return asyncio.run(check_key_enforcement(target, timeout_s=TIMEOUT_S, cap_bytes=CAP))


def no_key_anywhere(rows: list[ProbeRow], key: str = KEY) -> None:
    for row in rows:
        assert key not in repr(row), row.kind


# --- the chat probe --------------------------------------------------------------------------


def test_a_healthy_stream_is_ok_and_timed_from_its_first_content_token(chat_server) -> None:
    url, behaviour, seen = chat_server
    row = chat(llm_target(url))
    assert (row.kind, row.outcome, row.status_code, row.detail) == ("chat", "ok", 200, None)
    assert row.body_excerpt is None
    # The role chunk comes at once; the first content FIRST_TOKEN_S later: TTFT is the content's.
    assert row.ttft_ms is not None and row.ttft_ms >= FIRST_TOKEN_S * 1000
    assert row.connect_ms is not None and row.latency_ms is not None
    assert row.connect_ms < row.ttft_ms < row.latency_ms
    # The server waited ITL_S between each of its tokens: the whole stream took at least that long.
    assert row.latency_ms >= (FIRST_TOKEN_S + (behaviour.tokens - 1) * ITL_S) * 1000
    # Mean gap between content chunks as read (a loaded machine may read several at once: 0 gaps).
    # (0.01 ms: both are rounded to the microsecond.)
    assert row.itl_ms is not None
    assert 0 <= row.itl_ms * (behaviour.tokens - 1) <= row.latency_ms - row.ttft_ms + 0.01
    # The server's usage counts one token more than it sent chunks: the row says whose count it is.
    assert (row.output_tokens, row.tokens_source) == (behaviour.tokens + 1, "usage")
    assert row.tokens_per_s is not None and row.tokens_per_s > 0
    sent = seen.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["headers"]["connection"] == "close"
    assert "text/event-stream" in sent["headers"]["accept"]
    assert sent["body"]["stream"] is True and sent["body"]["model"] == MODEL
    assert sent["body"]["max_tokens"] == CHAT_PROBE_MAX_TOKENS
    assert sent["body"]["messages"][-1]["content"]


def test_without_usage_the_tokens_are_counted_chunks(chat_server) -> None:
    url, behaviour, _seen = chat_server
    behaviour.usage = False
    row = chat(llm_target(url))
    assert row.outcome == "ok", row.detail
    assert (row.output_tokens, row.tokens_source) == (behaviour.tokens, "chunks")


def test_the_prompt_changes_with_the_slot(chat_server) -> None:
    url, _behaviour, seen = chat_server
    prompts = set()
    for slot in range(6):
        chat(llm_target(url), slot=slot)
        prompts.add(seen.requests[-1]["body"]["messages"][-1]["content"])
    assert len(prompts) > 1


def test_refused_and_failing_chats_are_http_errors_with_the_key_redacted(chat_server) -> None:
    url, behaviour, _seen = chat_server
    wrong = chat(llm_target(url, token="not-the-key"))
    assert (wrong.outcome, wrong.status_code, wrong.detail) == ("http_error", 401, "status 401")
    assert wrong.ttft_ms is None and wrong.body_excerpt and "API key" in wrong.body_excerpt
    behaviour.chat_status, behaviour.echo_key_in_error = 500, True
    echoed = chat(llm_target(url))
    assert (echoed.outcome, echoed.status_code) == ("http_error", 500)
    assert echoed.body_excerpt is not None and "boom" in echoed.body_excerpt
    no_key_anywhere([echoed])


def test_a_closed_port_and_a_bad_url_are_connect_errors() -> None:
    row = chat(llm_target(f"http://127.0.0.1:{free_port()}"))
    assert (row.outcome, row.status_code, row.ttft_ms) == ("connect_error", None, None)
    row = chat(llm_target("ftp://127.0.0.1/x"))
    assert row.outcome == "connect_error"


# --- raw servers: what uvicorn would not send --------------------------------------------------


def sse_chunk(content: str | None, *, role: bool = False, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    if content is not None:
        delta["content"] = content
    doc = {"id": "c1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": MODEL,
           "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


STREAM = [sse_chunk(None, role=True)] + [sse_chunk(w) for w in ("Hi", " you", "!")] + [
    sse_chunk(None, finish="stop"), b"data: [DONE]\n\n"]


def as_chunked(piece: bytes) -> bytes:
    return f"{len(piece):x}\r\n".encode() + piece + b"\r\n"


Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler):  # type: ignore[no-untyped-def]
    """A raw server on loopback that reads one request and lets ``handler`` answer it."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            received.append(head + await reader.readexactly(length))
            await handler(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", received


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"


async def keep_alive(writer: asyncio.StreamWriter) -> None:
    """Chunked, tells the client to keep the connection, and does not close it after the answer."""
    writer.write(SSE_HEAD + b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
    for piece in STREAM:
        writer.write(as_chunked(piece))
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(3)  # the connection stays open: the answer's end is the last chunk


async def close_delimited(writer: asyncio.StreamWriter) -> None:
    """No length, no chunks: ``Connection: close`` and the end of the connection ends the body."""
    writer.write(SSE_HEAD + b"Connection: close\r\n\r\n")
    for piece in STREAM:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.01)


async def reset_mid_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(SSE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    for piece in STREAM[:3]:
        writer.write(as_chunked(piece))
        await writer.drain()
        await asyncio.sleep(0.01)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def stall_after_first_token(writer: asyncio.StreamWriter) -> None:
    writer.write(SSE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    for piece in STREAM[:2]:
        writer.write(as_chunked(piece))
        await writer.drain()
    await asyncio.sleep(5)  # longer than the probe's timeout


async def no_done(writer: asyncio.StreamWriter) -> None:
    writer.write(SSE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    for piece in STREAM[:-1]:
        writer.write(as_chunked(piece))
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def json_not_stream(writer: asyncio.StreamWriter) -> None:
    """A server that ignores ``stream: true`` and answers one JSON completion."""
    body = json.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": MODEL, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}]}).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()


async def endless_stream(writer: asyncio.StreamWriter) -> None:
    """Content chunks without end: the body cap stops it, not the timeout."""
    writer.write(SSE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    for _ in range(10_000):
        writer.write(as_chunked(sse_chunk("more ")))
        await writer.drain()


def raw_chat(
    handler: Handler, *, timeout_s: float = TIMEOUT_S, cap_bytes: int = CAP
) -> tuple[ProbeRow, list[bytes]]:
    async def go() -> tuple[ProbeRow, list[bytes]]:
        async with raw_server(handler) as (url, received):
            row = await probe_chat(llm_target(url), slot=0, timeout_s=timeout_s, cap_bytes=cap_bytes)
        return row, received

    return asyncio.run(go())


@pytest.mark.parametrize("handler", [keep_alive, close_delimited], ids=["keep-alive", "connection-close"])
def test_kept_alive_and_close_delimited_streams_are_both_read_whole(handler: Handler) -> None:
    row, received = raw_chat(handler)
    assert (row.outcome, row.status_code) == ("ok", 200), row.detail
    assert (row.output_tokens, row.tokens_source) == (3, "chunks")
    assert row.ttft_ms is not None and row.latency_ms is not None and row.ttft_ms <= row.latency_ms
    assert row.latency_ms < 2500  # the kept-alive server's open connection is not waited for
    assert b"\r\nConnection: close\r\n" in received[0]


def test_a_stream_reset_mid_way_is_a_recorded_failure() -> None:
    row, _ = raw_chat(reset_mid_stream)
    assert row.outcome == "protocol_error" and row.detail == "connection dropped mid-answer"
    assert row.latency_ms is None and row.tokens_per_s is None
    assert row.ttft_ms is not None  # the first token did come, and when is kept


def test_a_stalled_stream_is_a_timeout_that_keeps_its_ttft() -> None:
    row, _ = raw_chat(stall_after_first_token, timeout_s=0.6)
    assert (row.outcome, row.detail) == ("timeout", DETAIL_STALLED)
    assert row.ttft_ms is not None and row.ttft_ms < 600
    assert row.output_tokens is None and row.latency_ms is None


def test_a_stream_without_done_is_a_bad_body_naming_it() -> None:
    row, _ = raw_chat(no_done)
    assert row.outcome == "bad_body"
    assert row.detail is not None and "[DONE]" in row.detail
    assert row.body_excerpt is not None and "chat.completion.chunk" in row.body_excerpt


# --- health -------------------------------------------------------------------------------


def test_health_path_any_200_is_up_else_the_status(chat_server) -> None:
    url, behaviour, _seen = chat_server
    behaviour.health_body = b""  # vLLM's /health: an empty 200
    row = health(llm_target(url))
    assert (row.kind, row.outcome, row.status_code) == ("health", "ok", 200)
    behaviour.health_status = 503
    row = health(llm_target(url))
    assert (row.outcome, row.detail) == ("http_error", "status 503")


def test_no_health_path_asks_the_models_list_with_the_key(chat_server) -> None:
    url, behaviour, seen = chat_server
    row = health(llm_target(url, health_path=""))
    assert (row.kind, row.outcome) == ("health", "ok")
    assert seen.requests[-1]["path"] == "/v1/models"
    assert seen.requests[-1]["headers"]["authorization"] == f"Bearer {KEY}"
    assert health(llm_target(url, health_path="", token="wrong")).outcome == "http_error"
    behaviour.models_body = b"<html>models</html>"
    row = health(llm_target(url, health_path=""))
    assert row.outcome == "bad_body" and "JSON" in (row.detail or "")


# --- key enforcement ----------------------------------------------------------------------


def test_an_enforcing_server_passes_both_checks_and_never_sees_the_key(chat_server) -> None:
    url, _behaviour, seen = chat_server
    rows = auth(llm_target(url))
    assert [r.kind for r in rows] == ["auth", "auth"]
    assert [r.outcome for r in rows] == ["ok", "ok"]
    assert [r.status_code for r in rows] == [401, 401]
    assert "without a key" in (rows[0].detail or "") and "wrong key" in (rows[1].detail or "")
    sent = {r["headers"].get("authorization") for r in seen.requests}
    assert sent == {None, f"Bearer {WRONG_KEY}"}
    assert all(r["body"]["stream"] is False and r["body"]["max_tokens"] == AUTH_PROBE_MAX_TOKENS
               for r in seen.requests)
    no_key_anywhere(rows)


def test_a_server_that_accepts_any_key_is_auth_not_enforced(chat_server) -> None:
    url, behaviour, _seen = chat_server
    behaviour.key = None
    rows = auth(llm_target(url))
    assert [r.outcome for r in rows] == [Outcome.AUTH_NOT_ENFORCED] * 2
    assert rows[0].detail is not None and rows[0].detail.startswith("accepted a request without a key")
    assert rows[1].detail is not None and rows[1].detail.startswith("accepted a wrong key")
    assert [r.status_code for r in rows] == [200, 200]


def test_other_answers_to_the_checks_are_http_errors_or_transport_outcomes(chat_server) -> None:
    url, _behaviour, _seen = chat_server
    rows = auth(replace(llm_target(url), predict_path="/nowhere"))
    assert [r.outcome for r in rows] == ["http_error", "http_error"]
    assert rows[0].detail is not None and rows[0].detail.startswith("status 404 to a request without a key")
    rows = auth(llm_target(f"http://127.0.0.1:{free_port()}"))
    assert [r.outcome for r in rows] == ["connect_error", "connect_error"]


def test_the_target_key_is_never_logged(chat_server, caplog: pytest.LogCaptureFixture) -> None:
    url, behaviour, _seen = chat_server
    caplog.set_level(logging.DEBUG)
    behaviour.chat_status, behaviour.echo_key_in_error = 500, True
    rows = [chat(llm_target(url)), health(llm_target(url, health_path="")), *auth(llm_target(url))]
    no_key_anywhere(rows)
    assert KEY not in caplog.text
    assert ProbeKind.AUTH in {r.kind for r in rows}


def test_a_json_answer_to_a_streamed_request_is_a_bad_body() -> None:
    row, _ = raw_chat(json_not_stream)
    assert (row.outcome, row.status_code) == ("bad_body", 200)
    assert row.detail is not None and "server-sent event" in row.detail
    assert row.ttft_ms is None


def test_a_stream_past_the_body_cap_is_too_large_and_keeps_its_ttft() -> None:
    row, _ = raw_chat(endless_stream, cap_bytes=8192)
    assert (row.outcome, row.status_code) == ("too_large", 200)
    assert row.ttft_ms is not None and row.output_tokens is None
