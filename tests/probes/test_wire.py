"""The prober's own HTTP/1.1 exchange against raw answers, byte for byte, on a fresh connection each.

A raw asyncio server sends each answer byte for byte (chunked, gzip, bombs, garbage, resets,
drips); ``probes.wire.exchange`` must read it on a fresh connection, cap it, and end in the
outcome the contract gives that answer (the prober's only HTTP path: no second client to agree with).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable

import pytest

from core.contract import Outcome
from probes.outcome import decide_outcome
from probes.probe import PROBE_HEADERS
from probes.wire import BadURL, exchange, wire_request
from tests.servers import free_port

CAP = 4096
VALID = json.dumps({"id": "a", "probability": 0.5}).encode()
BOMB = gzip.compress(b"0" * (50 * 1024 * 1024))


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def sized(body: bytes, status: str = "200 OK", **headers: str) -> bytes:
    return head(status, content_length=str(len(body)), **headers) + body


def chunked(body: bytes, size: int = 100) -> bytes:
    parts = [f"{len(body[i:i + size]):x}\r\n".encode() + body[i:i + size] + b"\r\n"
             for i in range(0, len(body), size)]
    return head(transfer_encoding="chunked") + b"".join(parts) + b"0\r\n\r\n"


Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def send(data: bytes) -> Writer:
    async def go(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()

    return go


def reset_after(data: bytes) -> Writer:
    async def go(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return go


def drip(n: int, every_s: float) -> Writer:
    async def go(writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_length=str(n)))
        for _ in range(n):
            await asyncio.sleep(every_s)
            writer.write(b" ")
        writer.close()

    return go


def endless() -> Writer:
    async def go(writer: asyncio.StreamWriter) -> None:
        writer.write(head())
        try:
            for _ in range(10_000):  # 640 MB if anyone read it all
                writer.write(b"y" * 65536)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    return go


CASES = [
    ("valid", send(sized(VALID)), Outcome.OK),
    ("chunked", send(chunked(VALID, 7)), Outcome.OK),
    ("close-delimited", send(head() + VALID), Outcome.OK),
    ("gzip body", send(sized(gzip.compress(VALID), content_encoding="gzip")), Outcome.OK),
    ("gzip bomb", send(sized(BOMB, content_encoding="gzip")), Outcome.TOO_LARGE),
    ("corrupt gzip", send(sized(b"not gzip at all", content_encoding="gzip")), Outcome.PROTOCOL_ERROR),
    ("unknown encoding", send(sized(b"abc", content_encoding="zz")), Outcome.PROTOCOL_ERROR),
    ("declared too long", send(head(content_length=str(CAP + 1))), Outcome.TOO_LARGE),
    ("chunked too long", send(chunked(b"x" * (CAP + 1))), Outcome.TOO_LARGE),
    ("endless stream", endless(), Outcome.TOO_LARGE),
    ("exactly at the cap", send(sized(b" " * (CAP - len(VALID)) + VALID)), Outcome.OK),
    ("one byte over the cap", send(sized(b" " * (CAP - len(VALID) + 1) + VALID)), Outcome.TOO_LARGE),
    ("500 huge", send(sized(b"e" * (CAP * 4), "500 Internal Server Error")), Outcome.HTTP_ERROR),
    ("redirect is an answer", send(sized(b"", "302 Found", location="http://169.254.169.254/")),
     Outcome.HTTP_ERROR),
    ("garbled status line", send(b"HTTP/9 banana\r\n\r\n"), Outcome.PROTOCOL_ERROR),
    ("not http at all", send(b"SSH-2.0-OpenSSH_9.2\r\n"), Outcome.PROTOCOL_ERROR),
    ("closed before answering", send(b""), Outcome.PROTOCOL_ERROR),
    ("reset mid-answer", reset_after(head(content_length=str(len(VALID))) + VALID[:5]),
     Outcome.PROTOCOL_ERROR),
    ("short body then close", send(head(content_length=str(len(VALID) + 10)) + VALID),
     Outcome.PROTOCOL_ERROR),
    ("slow drip", drip(100, 0.02), Outcome.TIMEOUT),
]


async def _run(writer_fn: Writer, timeout_s: float) -> tuple[str, int | None, float | None, bytes]:
    received = bytearray()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await reader.readuntil(b"\r\n\r\n"))
        received.extend(await reader.readexactly(2))  # the body: unread bytes would turn close into a reset
        await writer_fn(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        request = wire_request("POST", f"http://127.0.0.1:{port}/predict", dict(PROBE_HEADERS), b"{}")
        ex = await exchange(request, timeout_s=timeout_s, cap_bytes=CAP, ssl_context=None)
    assert ex.body is None or len(ex.body) <= CAP
    verdict = decide_outcome(kind="predict", status_code=ex.status_code, body=ex.body, error=ex.error,
                             error_detail=ex.error_detail, expected_id="a")
    return verdict.outcome, ex.status_code, ex.latency_ms, bytes(received)


@pytest.mark.parametrize(("case", "writer_fn", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_raw_answers_end_in_the_outcomes_of_the_contract(case: str, writer_fn: Writer, outcome: str) -> None:
    got, status, latency_ms, request = asyncio.run(_run(writer_fn, 0.5))
    assert got == outcome, case
    assert b"Connection: close\r\n" in request and request.startswith(b"POST /predict HTTP/1.1\r\n")
    assert request.endswith(b"Content-Length: 2\r\n\r\n{}")
    if outcome == Outcome.OK:
        assert status == 200 and latency_ms is not None and latency_ms > 0
    if outcome == Outcome.TIMEOUT:
        assert (status, latency_ms) == (None, None)


def test_refused_port_and_bad_urls() -> None:
    async def go() -> tuple[str | None, str | None]:
        request = wire_request("GET", f"http://127.0.0.1:{free_port()}/health", {})
        ex = await exchange(request, timeout_s=1.0, cap_bytes=CAP, ssl_context=None)
        return ex.error, ex.error_detail

    assert asyncio.run(go()) == (Outcome.CONNECT_ERROR, "connection refused or unreachable")
    for url in ("ftp://example.org/x", "http:///nohost", "http://127.0.0.1:99999/x", "not a url"):
        with pytest.raises(BadURL):
            wire_request("GET", url, {})


def test_host_header_keeps_the_name_and_port() -> None:
    def sent(url: str) -> bytes:
        return wire_request("GET", url, {}).head_and_body

    assert b"\r\nHost: team.example:8443\r\n" in sent("https://team.example:8443/h")
    assert b"\r\nHost: team.example\r\n" in sent("https://team.example/h?x=1")
    assert sent("https://team.example/h?x=1").startswith(b"GET /h?x=1 HTTP/1.1")
    assert b"\r\nHost: [::1]:8000\r\n" in sent("http://[::1]:8000/")


def test_a_listener_gets_each_decoded_piece_of_a_chunked_body_as_it_arrives() -> None:
    pieces = [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]

    async def dribble(writer: asyncio.StreamWriter) -> None:
        writer.write(head(transfer_encoding="chunked"))
        for piece in pieces:
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go() -> tuple[list[tuple[bytes, float]], object, float, float]:
        got: list[tuple[bytes, float]] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await dribble(writer)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            request = wire_request("GET", f"http://127.0.0.1:{port}/stream", dict(PROBE_HEADERS))
            t0 = time.perf_counter()
            ex = await exchange(request, timeout_s=2.0, cap_bytes=CAP, ssl_context=None,
                                on_body=lambda data, at: got.append((data, at)))
            t1 = time.perf_counter()
        return got, ex, t0, t1

    got, ex, t0, t1 = asyncio.run(go())
    assert ex.status_code == 200 and ex.error is None  # type: ignore[attr-defined]
    assert b"".join(data for data, _ in got) == b"".join(pieces) == ex.body  # type: ignore[attr-defined]
    times = [at for _, at in got]
    assert len(got) == len(pieces)  # 50 ms apart: never one read
    assert t0 < times[0] and times == sorted(times) and times[-1] < t1
    assert times[-1] - times[0] >= 0.1  # the server slept twice 50 ms between them
