"""Sending one crafted request and getting an ``Answer`` back, never an exception.

Most requests go through httpx. Some must go over a raw socket: a client library refuses to send
a malformed request line or an unknown method with odd bytes, and a 10 MB upload must notice a
server that answers ``413`` early and stops reading (httpx would report a broken pipe instead
of the server's perfectly good answer). Every call is bounded by a total deadline.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from dataclasses import dataclass

import httpx

from stress.evidence import Answer, SentRequest

MAX_BODY_KEEP_BYTES = 256 * 1024  # what we keep of a response body for judging
SEND_CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 3.0
EXCERPT_KEEP = 4096  # bytes kept of an answer that is not HTTP


def send_httpx(client: httpx.Client, request: SentRequest, timeout_s: float) -> Answer:
    """Send with httpx; errors become ``Answer.error`` kinds (timeout, connect_error, ...)."""
    started = time.perf_counter()
    deadline = started + timeout_s
    try:
        with client.stream(
            request.method,
            request.url,
            headers=request.headers,
            content=request.body,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S)),
        ) as response:
            kept = bytearray()
            for chunk in response.iter_bytes():
                if len(kept) < MAX_BODY_KEEP_BYTES:
                    kept += chunk[: MAX_BODY_KEEP_BYTES - len(kept)]
                if time.perf_counter() > deadline:
                    return Answer(None, None, bytes(kept), error="timeout")
            latency_ms = (time.perf_counter() - started) * 1000
            return Answer(
                response.status_code,
                round(latency_ms, 1),
                bytes(kept),
                response.headers.get("content-type", ""),
            )
    except httpx.TimeoutException:
        return Answer(None, None, error="timeout")
    except httpx.ConnectError as exc:
        return Answer(None, None, error=connect_error_kind(exc))
    except httpx.RemoteProtocolError:
        return Answer(None, None, error="closed")
    except (httpx.ReadError, httpx.WriteError):
        return Answer(None, None, error="closed")
    except httpx.HTTPError as exc:
        return Answer(None, None, error=type(exc).__name__)


def connect_error_kind(exc: BaseException) -> str:
    """``refused`` (nothing listens), ``dns`` (the name does not resolve) or ``connect_error``.

    httpx wraps the socket's own error (``__cause__`` / ``__context__``); look down the chain.
    """
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, ConnectionRefusedError):
            return "refused"
        if isinstance(node, socket.gaierror):
            return "dns"
        node = node.__cause__ or node.__context__
    text = str(exc).lower()
    if "refused" in text:
        return "refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "dns"
    return "connect_error"


@dataclass
class _Parsed:
    status: int
    content_type: str
    body: bytes
    complete: bool


def _parse(buf: bytes) -> _Parsed | None:
    """Status, content type and body of a (possibly partial) HTTP/1.x response; None before headers."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return _Parsed(0, "", buf, True)  # not HTTP at all: judged as a protocol error
        status = int(parts[1])
        rest = buf[end + 4 :]
        if 100 <= status < 200:  # interim answer (100 Continue): the real one follows
            buf = rest
            continue
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, done = _dechunk(rest)
            return _Parsed(status, headers.get("content-type", ""), body, done)
        if headers.get("content-length", "").isdigit():
            length = int(headers["content-length"])
            return _Parsed(status, headers.get("content-type", ""), rest[:length], len(rest) >= length)
        return _Parsed(status, headers.get("content-type", ""), rest, False)  # until the close


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    out = bytearray()
    pos = 0
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return bytes(out), False
        try:
            size = int(data[pos:line_end].split(b";")[0], 16)
        except ValueError:
            return bytes(out), True
        if size == 0:
            return bytes(out), True
        out += data[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2
        if pos > len(data):
            return bytes(out), False


def send_raw(
    host: str, port: int, head: bytes, body: bytes = b"", *, timeout_s: float, tls: bool = False
) -> Answer:
    """Send exact bytes over a fresh connection and read one answer, noticing early answers.

    After each chunk of the body we look whether the server has answered already (a ``413``
    sent before the upload ends); then we stop sending and read it, as a browser would.
    """
    started = time.perf_counter()
    deadline = started + timeout_s
    try:
        sock = socket.create_connection((host, port), timeout=min(timeout_s, CONNECT_TIMEOUT_S))
    except TimeoutError:
        return Answer(None, None, error="timeout")
    except OSError as exc:
        return Answer(None, None, error=connect_error_kind(exc))
    try:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=host)
        return _exchange(sock, head, body, started, deadline)
    except TimeoutError:
        return Answer(None, None, error="timeout")
    except OSError:
        return Answer(None, None, error="closed")
    finally:
        sock.close()


def _exchange(sock: socket.socket, head: bytes, body: bytes, started: float, deadline: float) -> Answer:
    payload = memoryview(head + body)
    sent = 0
    try:
        while sent < len(payload):
            if time.perf_counter() > deadline:
                return Answer(None, None, error="timeout")
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # answered before the upload ended
            sock.settimeout(max(0.01, deadline - time.perf_counter()))
            sent += sock.send(payload[sent : sent + SEND_CHUNK_BYTES])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may have answered and closed: read what it said
    buf = bytearray()
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return _finish(buf, started, timed_out=True)
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return _finish(buf, started, timed_out=True)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            return _finish(buf, started, timed_out=False)
        if len(buf) < MAX_BODY_KEEP_BYTES + 64 * 1024:
            buf += chunk
        parsed = _parse(bytes(buf))
        if parsed is not None and parsed.complete:
            return _finish(buf, started, timed_out=False)


def _finish(buf: bytearray, started: float, *, timed_out: bool) -> Answer:
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    parsed = _parse(bytes(buf))
    if parsed is None:
        return Answer(None, None, bytes(buf[:EXCERPT_KEEP]), error="timeout" if timed_out else "closed")
    if parsed.status == 0:
        return Answer(None, latency_ms, bytes(buf[:EXCERPT_KEEP]), error="protocol_error")
    return Answer(parsed.status, latency_ms, parsed.body[:MAX_BODY_KEEP_BYTES], parsed.content_type)
