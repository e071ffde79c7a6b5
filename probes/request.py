"""Sending one probe: the request body from the target's template, and a capped, timed read.

The body is read with a size cap through httpx streaming (compressed answers are inflated
with a bounded buffer), so a target that answers a gigabyte costs us kilobytes; latency is
taken around the request alone with a monotonic clock.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

from probes.outcome import CONNECT_ERROR, PROTOCOL_ERROR, TIMEOUT, TOO_LARGE

TEXT_PLACEHOLDER = "{text}"
ID_PLACEHOLDER = "{id}"
PLACEHOLDER_PATTERN = re.compile(re.escape(TEXT_PLACEHOLDER) + "|" + re.escape(ID_PLACEHOLDER))
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


class TemplateError(ValueError):
    """A target's request template is not JSON."""


def fill_value(value: Any, *, text: str, sample_id: str) -> Any:
    """Replace the placeholders inside every string (keys included) of a parsed template."""
    if isinstance(value, str):
        if value == TEXT_PLACEHOLDER:
            return text
        if value == ID_PLACEHOLDER:
            return sample_id
        # One pass, so a placeholder inside the substituted text is left as it is.
        return PLACEHOLDER_PATTERN.sub(lambda m: text if m.group() == TEXT_PLACEHOLDER else sample_id, value)
    if isinstance(value, dict):
        return {
            fill_value(k, text=text, sample_id=sample_id): fill_value(v, text=text, sample_id=sample_id)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [fill_value(v, text=text, sample_id=sample_id) for v in value]
    return value


def parse_template(template: str | None) -> Any:
    """The template as a JSON value, or None for the contract's ``{"id", "text"}`` body.

    Placeholders sit inside JSON strings (the target registry refuses anything else), so
    the template parses as it is and substitution happens on values, never on raw text: a
    text holding quotes, backslashes or newlines still gives valid JSON.
    """
    if template is None:
        return None
    try:
        return json.loads(template)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"template is not JSON ({exc.msg})") from None


def build_predict_body(parsed_template: Any, *, text: str, sample_id: str) -> bytes:
    """The predict request body, UTF-8 JSON."""
    if parsed_template is None:
        document: Any = {"id": sample_id, "text": text}
    else:
        document = fill_value(parsed_template, text=text, sample_id=sample_id)
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


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
        return TIMEOUT, "no full answer within the timeout"
    if isinstance(exc, httpx.ConnectTimeout):
        return TIMEOUT, "connect timeout"
    if isinstance(exc, httpx.TimeoutException):
        return TIMEOUT, f"{type(exc).__name__}"
    if isinstance(exc, httpx.ConnectError):
        return CONNECT_ERROR, "connection refused or unreachable"
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return PROTOCOL_ERROR, "connection dropped mid-answer"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError | httpx.ProtocolError):
        return PROTOCOL_ERROR, "malformed HTTP answer"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return CONNECT_ERROR, "unsupported or invalid URL"
    if isinstance(exc, httpx.HTTPError | OSError):
        return CONNECT_ERROR, type(exc).__name__
    return PROTOCOL_ERROR, type(exc).__name__


async def read_capped(response: httpx.Response, cap_bytes: int) -> tuple[bytes, bool]:
    """Up to ``cap_bytes`` of the (inflated) body and whether it was cut short.

    Raw bytes are counted as they arrive and inflating is bounded, so neither a huge body
    nor a compression bomb can make us hold more than about the cap.
    """
    if response.is_stream_consumed:  # an in-memory answer (mock transports); real ones stream
        content = response.content
        return (content, False) if len(content) <= cap_bytes else (content[:cap_bytes], True)
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap_bytes:
        return b"", True
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    inflater = None
    if encoding in ("gzip", "deflate", "x-gzip"):
        inflater = zlib.decompressobj(ZLIB_AUTO_WBITS)
    elif encoding not in ("", "identity"):
        raise httpx.DecodingError(f"unsupported content-encoding {encoding[:20]}")
    parts: list[bytes] = []
    size = 0
    raw_size = 0
    async for chunk in response.aiter_raw():
        raw_size += len(chunk)
        if raw_size > cap_bytes:
            return b"".join(parts), True
        if inflater is not None:
            chunk = inflater.decompress(chunk, cap_bytes + 1 - size)
            if inflater.unconsumed_tail:
                return b"".join(parts), True
        size += len(chunk)
        if size > cap_bytes:
            return b"".join(parts), True
        parts.append(chunk)
    return b"".join(parts), False


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
        return Exchange(status, None, None, PROTOCOL_ERROR, "undecodable content-encoding")
    except (zlib.error, ValueError):
        return Exchange(status, None, None, PROTOCOL_ERROR, "corrupt compressed body")
    except Exception as exc:  # recorded, never raised into the scheduler
        # No full answer arrived: the status line alone does not count as an answer.
        outcome, detail = classify_error(exc)
        return Exchange(None, None, None, outcome, detail)
    if cut:
        return Exchange(status, None, latency_ms, TOO_LARGE, f"body over {cap_bytes} bytes", connect_ms)
    return Exchange(status, body, latency_ms, connect_ms=connect_ms)
