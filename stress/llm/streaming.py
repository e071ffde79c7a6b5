"""One streamed chat completion over httpx, judged chunk by chunk as the bytes arrive.

The time to first token is only honest when each chunk is timed when it arrives, so the body
is read as it comes (``iter_bytes``), fed to ``core.llm_contract``'s SSE parser and stream
check, and never buffered whole first. The same function serves the ``stream_schema``
scenario, the normal client of ``slow_readers``, and the Locust users of ``burst`` (in their
own process, where gevent makes httpx's blocking sockets cooperative). It never raises for what
a server does: errors become ``Answer`` error kinds, as in ``stress.client``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from core.llm_contract import SseParser, StreamCheck, StreamVerdict
from stress.client import CONNECT_TIMEOUT_S, MAX_BODY_KEEP_BYTES, connect_error_kind
from stress.evidence import Answer

BAD_STREAM = "bad_stream"  # status key suffix: a 200 whose stream breaks the chunk schema


@dataclass
class StreamResult:
    """What one streamed request got: a status and the stream's verdict, or an error kind."""

    status: int | None
    error: str | None = None  # stress.client's kinds (timeout, refused, closed, ...); None: answered
    verdict: StreamVerdict | None = None  # a 200's stream, read to its end, cut, or the deadline
    body: bytes = b""  # the first MAX_BODY_KEEP_BYTES of the body, for evidence
    content_type: str = ""
    latency_ms: float | None = None  # request start to the last byte (or to the cut)
    timed_out: bool = False  # a 200 whose stream had not ended at the deadline: a hang
    cut: bool = False  # the server closed the connection before the body ended

    @property
    def ttft_ms(self) -> float | None:
        return self.verdict.ttft_ms if self.verdict is not None else None

    @property
    def status_key(self) -> str:
        """"200", "200:bad_stream", "503", or "error:KIND" (stress.evidence's counting keys)."""
        if self.status is None:
            return f"error:{self.error or 'unknown'}"
        if self.timed_out:
            return "error:timeout"
        if self.status == 200 and self.verdict is not None and not self.verdict.ok:
            return f"200:{BAD_STREAM}"
        return str(self.status)

    def answer(self) -> Answer:
        """As ``stress.evidence`` shows an answer (body cut short there)."""
        error = self.error if self.status is None else ("timeout" if self.timed_out else None)
        return Answer(self.status, self.latency_ms, self.body, self.content_type, error=error)


def stream_chat(
    client: httpx.Client, url: str, headers: list[tuple[str, str]] | dict[str, str], body: bytes,
    timeout_s: float,
) -> StreamResult:
    """POST ``body`` (a streamed chat request) and read the answer as it arrives, within ``timeout_s``.

    A 200 is parsed as server-sent events and judged by ``StreamCheck`` (TTFT from the request
    start); any other status keeps its body for the evidence. A stream still running at the
    deadline is ``timed_out`` (its verdict covers what arrived).
    """
    started = time.monotonic()
    deadline = started + timeout_s
    status: int | None = None
    content_type = ""
    kept = bytearray()
    parser = SseParser()
    check = StreamCheck()
    timed_out = cut = False
    try:
        with client.stream(
            "POST", url, headers=headers, content=body,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S)),
        ) as response:
            status = response.status_code
            content_type = response.headers.get("content-type", "")
            try:
                for chunk in response.iter_bytes():
                    now = time.monotonic()
                    if len(kept) < MAX_BODY_KEEP_BYTES:
                        kept += chunk[: MAX_BODY_KEEP_BYTES - len(kept)]
                    if status == 200:
                        for event in parser.feed(chunk):
                            check.add(event, now)
                    if now > deadline:
                        timed_out = True
                        break
            except httpx.TimeoutException:
                timed_out = True
            except (httpx.RemoteProtocolError, httpx.ReadError):
                cut = True  # the answer stopped halfway: judged on what arrived
    except httpx.TimeoutException:
        if status is None:
            return StreamResult(None, "timeout", latency_ms=None)
        timed_out = True
    except httpx.ConnectError as exc:
        return StreamResult(None, connect_error_kind(exc))
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        if status is None:
            return StreamResult(None, "closed")
        cut = True
    except httpx.HTTPError as exc:
        return StreamResult(None, type(exc).__name__)
    ended = time.monotonic()
    verdict = None
    if status == 200:
        now = time.monotonic()
        for event in parser.close():
            check.add(event, now)
        verdict = check.finish(started, ended)
    return StreamResult(
        status, None, verdict, bytes(kept), content_type, round((ended - started) * 1000, 1),
        timed_out=timed_out, cut=cut,
    )
