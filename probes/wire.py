"""One HTTP/1.1 exchange on a connection of its own: asyncio protocol + httptools, no pool.

The prober's hot path (issue 17). httpx + httpcore + anyio cost about 2 ms of CPU per probe
(a pool, trace hooks, cancel scopes, URL models) for what is one request on one fresh connection;
this does exactly that: connect (DNS, TCP, TLS with the host's name for SNI and verification),
send the request with ``Connection: close``, parse the answer with httptools as bytes arrive,
stop reading at the body cap, close. The connection policy is the one of "Trust in the
measurement" in DESIGN.md, and every transport failure maps to one of the contract's
outcomes (timeout, connect_error, protocol_error, too_large). Latency runs from the start
of the connect to the moment the last byte is parsed (monotonic clock), ``connect_ms`` to the
moment the connection (and TLS) is up. Redirects are answers: never followed.

A caller that reads a stream (the chat probe of an openai-chat target: server-sent events) passes
``on_body``: each piece of the body, once decoded, is handed over with the time its bytes arrived
(``time.perf_counter``, the clock of ``latency_ms``), so time to first token is read as the bytes
come, not after the end. The body is still kept (capped) for the verdict and a failed answer's
excerpt, and the timeout still covers the whole exchange, so a stream that stalls ends as a timeout.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from core.contract import Outcome
from core.errors import ClfwatchError
from probes.request import CappedBody, Exchange

DETAIL_TIMEOUT = "no full answer within the timeout"
DETAIL_REFUSED = "connection refused or unreachable"
DETAIL_TLS = "TLS handshake failed"
DETAIL_DROPPED = "connection dropped mid-answer"
DETAIL_MALFORMED = "malformed HTTP answer"
DETAIL_BAD_URL = "unsupported or invalid URL"
DEFAULT_PORTS = {"http": 80, "https": 443}

# A receiver of body pieces as they arrive: (decoded bytes, perf_counter seconds at arrival).
BodyListener = Callable[[bytes, float], None]


@dataclass(frozen=True)
class WireRequest:
    """Where to connect and the bytes to send; ``host`` is the name (Host header, TLS SNI)."""

    scheme: str  # "http" or "https"
    host: str  # the URL's host name or address, as written (no brackets)
    port: int
    head_and_body: bytes  # the request as it goes on the wire


class BadURL(ClfwatchError, ValueError):
    """A URL the prober cannot send to (scheme, host or port)."""


def wire_request(method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> WireRequest:
    """The bytes of one request; BadURL for a URL that is not plain http(s)://host[:port]/path."""
    scheme, host, port, target, host_header = _split(url)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="strict")
    return WireRequest(scheme, host, port, head + (body or b""))


@functools.lru_cache(maxsize=16_384)  # a target's two URLs, parsed once, not on every probe
def _split(url: str) -> tuple[str, str, int, str, str]:
    """Scheme, host, port, request target and Host header of ``url``; BadURL when unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadURL(str(exc)) from exc
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in DEFAULT_PORTS or not host:
        raise BadURL(url[:40])
    if port is None:
        port = DEFAULT_PORTS[scheme]
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    name = f"[{host}]" if ":" in host else host
    host_header = name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"
    return scheme, host, port, target, host_header


class _Answer(asyncio.Protocol):
    """Parses one answer as it arrives; resolves ``done`` once, with an Exchange or a failure."""

    def __init__(
        self, cap_bytes: int, done: asyncio.Future[None], listener: BodyListener | None = None
    ) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done = done
        self.body = CappedBody(cap_bytes)
        self.status: int | None = None
        self.headers_done = False
        self.length: int | None = None
        self.chunked = False
        self.encoding = "identity"
        self.error: tuple[str, str] | None = None
        self.ended: float | None = None
        self.transport: asyncio.BaseTransport | None = None
        self.listener = listener
        self.arrived = 0.0  # when the bytes being parsed arrived (only kept with a listener)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        if self.listener is not None:
            self.arrived = time.perf_counter()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            pass  # a callback ended the exchange (cap, encoding) and said why
        except httptools.HttpParserError:
            self._finish(error=(Outcome.PROTOCOL_ERROR, DETAIL_MALFORMED))

    def eof_received(self) -> bool | None:
        self._eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.done.done():
            self._finish(error=(Outcome.PROTOCOL_ERROR, DETAIL_DROPPED))
        self._eof()

    def _eof(self) -> None:
        if self.done.done():
            return
        if self.headers_done and self.length is None and not self.chunked:
            self.ended = time.perf_counter()  # a body delimited by the end of the connection
            self._finish()
        else:  # closed before the answer was complete
            self._finish(error=(Outcome.PROTOCOL_ERROR, DETAIL_DROPPED))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key == b"content-length":
            text = value.strip()
            self.length = int(text) if text.isdigit() else None
        elif key == b"transfer-encoding":
            self.chunked = b"chunked" in value.lower()
        elif key == b"content-encoding":
            self.encoding = value.decode("latin-1").strip().lower()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        if self.length is not None and self.length > self.body.cap:
            self._finish(cut=True)
            raise _Stop
        if not self.body.set_encoding(self.encoding):
            self._finish(error=(Outcome.PROTOCOL_ERROR, "undecodable content-encoding"))
            raise _Stop

    def on_body(self, chunk: bytes) -> None:
        kept = len(self.body.parts) if self.listener is not None else 0
        try:
            cut = self.body.add(chunk)
        except zlib.error:
            self._finish(error=(Outcome.PROTOCOL_ERROR, "corrupt compressed body"))
            raise _Stop from None
        if cut:
            self._finish(cut=True)
            raise _Stop
        if self.listener is not None and len(self.body.parts) > kept:
            self.listener(self.body.parts[-1], self.arrived)  # decoded, as kept

    def on_message_complete(self) -> None:
        self.ended = time.perf_counter()
        self._finish()
        raise _Stop  # anything after the answer is not read

    def _finish(self, *, cut: bool = False, error: tuple[str, str] | None = None) -> None:
        if self.done.done():
            return
        if cut:
            self.body.cut = True
            self.ended = time.perf_counter()
        self.error = error
        self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing: the exchange is over."""


async def exchange(
    request: WireRequest,
    *,
    timeout_s: float,
    cap_bytes: int,
    ssl_context: ssl.SSLContext | None,
    connect_to: str | None = None,
    on_body: BodyListener | None = None,
) -> Exchange:
    """Send ``request`` on a new connection and read the answer; never raises for the target.

    ``connect_to``: an address to connect to instead of resolving ``request.host`` again (the
    self-service guard's checked address); the Host header and TLS name stay the host's.
    ``on_body``: called with each decoded piece of the body and the ``perf_counter`` time its
    bytes arrived, for a reader of a stream; it must not raise.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    answer = _Answer(cap_bytes, done, on_body)
    tls = ssl_context if request.scheme == "https" else None
    started = time.perf_counter()
    transport: asyncio.BaseTransport | None = None
    try:
        async with asyncio.timeout(timeout_s):
            try:
                transport, _ = await loop.create_connection(
                    lambda: answer, connect_to or request.host, request.port, ssl=tls,
                    server_hostname=request.host if tls is not None else None,
                )
            except ssl.SSLError:
                return Exchange(None, None, None, Outcome.CONNECT_ERROR, DETAIL_TLS)
            except OSError:
                return Exchange(None, None, None, Outcome.CONNECT_ERROR, DETAIL_REFUSED)
            connected = time.perf_counter()
            transport.write(request.head_and_body)  # type: ignore[attr-defined]
            await done
    except TimeoutError:
        return Exchange(None, None, None, Outcome.TIMEOUT, DETAIL_TIMEOUT, started_s=started)
    finally:
        if transport is not None:
            transport.close()
    status = answer.status
    if answer.error is not None:
        outcome, detail = answer.error
        if outcome == Outcome.PROTOCOL_ERROR and detail in (DETAIL_DROPPED, DETAIL_MALFORMED):
            return Exchange(None, None, None, outcome, detail, started_s=started)  # no full answer: no status
        return Exchange(status, None, None, outcome, detail, started_s=started)
    ended = answer.ended if answer.ended is not None else time.perf_counter()
    latency_ms = (ended - started) * 1000.0
    connect_ms = (connected - started) * 1000.0
    if answer.body.cut:
        too_large = f"body over {cap_bytes} bytes"
        return Exchange(status, None, latency_ms, Outcome.TOO_LARGE, too_large, connect_ms, started)
    return Exchange(status, answer.body.value(), latency_ms, connect_ms=connect_ms, started_s=started)
