"""Sending one probe: a capped, timed read (the body itself comes from ``core.contract``).

The body is read with a size cap through httpx streaming (compressed answers are inflated
with a bounded buffer), so a target that answers a gigabyte costs us kilobytes; latency is
taken around the request alone with a monotonic clock.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass

import httpx

from core.contract import Outcome

JSON_CONTENT_TYPE = "application/json"
# httpcore trace events that mark the first byte of a request going out.
WIRE_START_EVENTS = frozenset(
    {"connection.connect_tcp.started", "connection.connect_unix_socket.started",
     "http11.send_request_headers.started", "http2.send_request_headers.started"}
)
# ... and the connection being ready for the request (TCP, then TLS when there is TLS).
CONNECTED_EVENTS = frozenset(
    {"connection.connect_tcp.complete", "connection.connect_unix_socket.complete",
     "connection.start_tls.complete"}
)
# gzip or zlib header, auto-detected.
ZLIB_AUTO_WBITS = 32 + zlib.MAX_WBITS


@dataclass(frozen=True)
class Exchange:
    """What one HTTP request gave back, before any verdict."""

    status_code: int | None  # None when no answer came
    body: bytes | None  # the body, at most the cap; None when not read
    latency_ms: float | None  # connect to last byte read, monotonic clock; None when no answer
    error: str | None = None  # a transport outcome (timeout, connect_error, ...) or None
    error_detail: str | None = None  # short and fixed wording, never exception text
    connect_ms: float | None = None  # the part of latency_ms spent connecting (DNS, TCP, TLS)


def classify_error(exc: BaseException) -> tuple[str, str]:
    """The transport outcome and a short detail for an exception raised by a request."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Outcome.TIMEOUT, "no full answer within the timeout"
    if isinstance(exc, httpx.ConnectTimeout):
        return Outcome.TIMEOUT, "connect timeout"
    if isinstance(exc, httpx.TimeoutException):
        return Outcome.TIMEOUT, f"{type(exc).__name__}"
    if isinstance(exc, httpx.ConnectError):
        return Outcome.CONNECT_ERROR, "connection refused or unreachable"
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return Outcome.PROTOCOL_ERROR, "connection dropped mid-answer"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError | httpx.ProtocolError):
        return Outcome.PROTOCOL_ERROR, "malformed HTTP answer"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Outcome.CONNECT_ERROR, "unsupported or invalid URL"
    if isinstance(exc, httpx.HTTPError | OSError):
        return Outcome.CONNECT_ERROR, type(exc).__name__
    return Outcome.PROTOCOL_ERROR, type(exc).__name__


class CappedBody:
    """A body read up to a cap, inflated (gzip, deflate) with a bounded buffer as it arrives.

    Raw bytes are counted as they arrive and inflating is bounded, so neither a huge body nor a
    compression bomb can make us hold more than about the cap. ``add`` says when to stop.
    """

    def __init__(self, cap_bytes: int) -> None:
        self.cap = cap_bytes
        self.parts: list[bytes] = []
        self.size = 0  # inflated bytes kept
        self.raw_size = 0  # bytes received
        self.cut = False
        self._inflater: zlib._Decompress | None = None

    def set_encoding(self, encoding: str) -> bool:
        """Prepare for a content-encoding; False for one we cannot decode."""
        encoding = encoding.strip().lower()
        if encoding in ("gzip", "deflate", "x-gzip"):
            self._inflater = zlib.decompressobj(ZLIB_AUTO_WBITS)
            return True
        return encoding in ("", "identity")

    def add(self, chunk: bytes) -> bool:
        """Take a chunk of raw body; True when the body went over the cap (stop reading).

        zlib.error for a corrupt compressed body.
        """
        self.raw_size += len(chunk)
        if self.raw_size > self.cap:
            self.cut = True
            return True
        if self._inflater is not None:
            chunk = self._inflater.decompress(chunk, self.cap + 1 - self.size)
            if self._inflater.unconsumed_tail:
                self.cut = True
                return True
        self.size += len(chunk)
        if self.size > self.cap:
            self.cut = True
            return True
        self.parts.append(chunk)
        return False

    def value(self) -> bytes:
        return b"".join(self.parts)


async def read_capped(response: httpx.Response, cap_bytes: int) -> tuple[bytes, bool]:
    """Up to ``cap_bytes`` of the (inflated) body and whether it was cut short (``CappedBody``)."""
    if response.is_stream_consumed:  # an in-memory answer (mock transports); real ones stream
        content = response.content
        return (content, False) if len(content) <= cap_bytes else (content[:cap_bytes], True)
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap_bytes:
        return b"", True
    body = CappedBody(cap_bytes)
    encoding = response.headers.get("content-encoding", "identity")
    if not body.set_encoding(encoding):
        raise httpx.DecodingError(f"unsupported content-encoding {encoding[:20]}")
    async for chunk in response.aiter_raw():
        if body.add(chunk):
            return body.value(), True
    return body.value(), False


async def send_probe(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    timeout_s: float,
    cap_bytes: int,
) -> Exchange:
    """Send ``request`` and read the answer; never raises for anything the target does.

    The whole exchange (connect, send, headers, body) must end within ``timeout_s``.
    """
    status: int | None = None
    wire_started: list[float] = []
    connected: list[float] = []

    async def trace(event: str, _info: object) -> None:
        # The clock starts when bytes start to leave (the connect), not while httpx builds and
        # queues the request; the last "connected" event ends the connect part.
        if event in CONNECTED_EVENTS:
            connected[:] = [time.perf_counter()]
        elif not wire_started and event in WIRE_START_EVENTS:
            wire_started.append(time.perf_counter())

    request.extensions = {**request.extensions, "trace": trace}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                body, cut = await read_capped(response, cap_bytes)
                ended = time.perf_counter()  # before the connection goes back to the pool
            finally:
                await response.aclose()
        first = wire_started[0] if wire_started else started
        latency_ms = (ended - first) * 1000.0
        connect_ms = (connected[0] - first) * 1000.0 if connected else None
    except httpx.DecodingError:
        return Exchange(status, None, None, Outcome.PROTOCOL_ERROR, "undecodable content-encoding")
    except (zlib.error, ValueError):
        return Exchange(status, None, None, Outcome.PROTOCOL_ERROR, "corrupt compressed body")
    except Exception as exc:  # recorded, never raised into the scheduler
        # No full answer arrived: the status line alone does not count as an answer.
        outcome, detail = classify_error(exc)
        return Exchange(None, None, None, outcome, detail)
    if cut:
        too_large = f"body over {cap_bytes} bytes"
        return Exchange(status, None, latency_ms, Outcome.TOO_LARGE, too_large, connect_ms)
    return Exchange(status, body, latency_ms, connect_ms=connect_ms)
