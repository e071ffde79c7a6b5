"""The LLM suite's three load scenarios: burst, recovery, slow readers.

``burst`` runs concurrent streaming clients on Locust, in a subprocess as the classifier's spike
does (``stress.load.run_locust`` with the ``llm_stream`` user); ``recovery`` measures from the end
of that burst (or runs a short one of its own when the burst did not just run); ``slow_readers``
holds a few streams open that are read a few bytes at a time, over raw sockets with a small
receive buffer, while a normal client streams beside them. Everything is bounded in count and
time, and every socket and subprocess is closed in ``finally``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import Counter
from typing import Any

import httpx

from core.contract import LlmScenarioName
from core.llm_contract import pick_prompt
from stress.client import CONNECT_TIMEOUT_S, send_httpx
from stress.context import StressContext
from stress.crafted import raw_head_for
from stress.evidence import (
    Failure,
    ScenarioResult,
    curl_command,
    describe_error,
    describe_unanswered,
    percentiles_ms,
)
from stress.llm.cases import SCHEMA_PROMPT_TARGET, chat_request
from stress.llm.checks import stream_request, stream_row
from stress.llm.streaming import stream_chat
from stress.load import LoadStats, locust_failure, run_locust

log = logging.getLogger(__name__)

BURST_PROMPTS = 8  # different prompts the burst's users pick from
BURST_PROMPT_OFFSET = 200
BURST_END_MEMO = "llm_burst_ended_at"  # StressContext.memo key: when the burst scenario ended
RECOVERY_PAUSE_S = 0.5  # between recovery tries
RECOVERY_MAX_TRIES = 500  # a count bound beside the window
SLOW_RCVBUF_BYTES = 4096  # a slow reader's receive buffer: the server's writes back up quickly
SLOW_SETTLE_S = 0.5  # after opening the slow readers, before the normal client starts


def _burst_bodies(ctx: StressContext) -> list[tuple[str, str | None]]:
    return [
        (chat_request(ctx.spec, pick_prompt(SCHEMA_PROMPT_TARGET, BURST_PROMPT_OFFSET + i),
                      max_tokens=ctx.bars.llm_max_tokens, stream=True).decode("utf-8"), None)
        for i in range(BURST_PROMPTS)
    ]


def _run_burst_load(ctx: StressContext, run_time_s: float) -> LoadStats:
    bars = ctx.bars
    return run_locust(
        ctx.spec,
        users=bars.llm_burst_users,
        spawn_rate=bars.llm_burst_spawn_rate,
        run_time_s=run_time_s,
        wait_min_s=0.0,
        wait_max_s=bars.llm_burst_wait_max_s,
        timeout_s=bars.llm_request_timeout_s,
        max_requests=bars.llm_burst_max_requests,
        workers=ctx.workers,
        grace_s=bars.load_grace_s,
        unanswered_after_s=bars.llm_request_timeout_s,
        latency_bar_ms=bars.llm_ttft_bar_s * 1000,
        user="llm_stream",
        bodies=_burst_bodies(ctx),
    )


def _server_errors(counts: Counter[str]) -> int:
    return sum(n for key, n in counts.items() if key[:1] == "5")


def burst_verdict(stats: LoadStats, ttft_bar_ms: float) -> tuple[bool, str]:
    """No 5xx, every stream answered and ended in time, TTFT p95 within the bar. Pure.

    A 4xx (a ``429`` under load is an honest answer) and a stream that breaks the chunk schema
    are counted in the evidence but do not fail the burst: they are ``stream_schema``'s and the
    team's business, not load's.
    """
    if not stats.ok:
        return False, f"the burst could not run ({stats.error})"
    counts = stats.status_counts
    total = sum(counts.values())
    if total == 0:
        return False, "not one stream was sent"
    problems = []
    errors = _server_errors(counts)
    if errors:
        problems.append(f"{errors} of {total} streams got a 5xx")
    unanswered = describe_unanswered(stats.outcomes)
    if unanswered:
        problems.append(f"of {total} streams {unanswered}")
    p95 = (stats.ttft_ms or {}).get("p95")
    if p95 is None:
        problems.append("no stream produced a token")
    elif p95 > ttft_bar_ms:
        problems.append(f"TTFT p95 {p95:g} ms > {ttft_bar_ms:g} ms")
    if problems:
        return False, "; ".join(problems)
    refused = sum(n for key, n in counts.items() if key[:1] == "4")
    also = f"; {refused} answered 4xx" if refused else ""
    return True, (
        f"{total} streams, no 5xx, none unanswered, TTFT p95 {p95:g} ms (bar {ttft_bar_ms:g} ms){also}"
    )


def run_burst(ctx: StressContext) -> ScenarioResult:
    """Concurrent streaming clients for a while: no 5xx, no hang, TTFT p95 within the bar."""
    bars = ctx.bars
    started = time.monotonic()
    try:
        stats = _run_burst_load(ctx, bars.llm_burst_s)
    finally:
        ctx.memo[BURST_END_MEMO] = time.monotonic()
    bar_ms = bars.llm_ttft_bar_s * 1000
    passed, summary = burst_verdict(stats, bar_ms)
    if stats.ok:
        summary = f"{bars.llm_burst_users} concurrent streaming clients: {summary}"
    return ScenarioResult(
        LlmScenarioName.BURST,
        passed,
        summary,
        status_counts=stats.status_counts,
        percentiles=stats.latency_ms or percentiles_ms([]),
        requests=stats.requests,
        failure=None if passed else locust_failure(ctx.spec, stats),
        duration_s=time.monotonic() - started,
        bars={"ttft_bar_s": bars.llm_ttft_bar_s, "users": bars.llm_burst_users,
              "spawn_rate": bars.llm_burst_spawn_rate, "duration_s": bars.llm_burst_s,
              "request_timeout_s": bars.llm_request_timeout_s},
        extra={
            "ttft_ms": stats.ttft_ms,
            "rps": stats.rps,
            "workers": ctx.workers,
            "load_error": stats.error,
            "curl": curl_command(stream_request(ctx, "one of the burst's streams",
                                                _burst_bodies(ctx)[0][0].encode())),
        },
    )


def run_recovery(ctx: StressContext) -> ScenarioResult:
    """After the burst, one ordinary (non-streamed) request must be answered within the window."""
    bars, spec = ctx.bars, ctx.spec
    started = time.monotonic()
    window_s = bars.llm_recovery_window_s
    own_burst: LoadStats | None = None
    burst_end = ctx.memo.get(BURST_END_MEMO)
    if burst_end is None:  # the burst scenario did not run before: a short burst of our own
        own_burst = _run_burst_load(ctx, bars.llm_recovery_burst_s)
        burst_end = time.monotonic()
    request = stream_request(
        ctx, "an ordinary request after the burst",
        chat_request(spec, "Hello again, are you back?", max_tokens=bars.llm_max_tokens),
    )
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    recovered_after: float | None = None
    last = None
    with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
        for _ in range(RECOVERY_MAX_TRIES):
            remaining_s = window_s - (time.monotonic() - burst_end)
            if remaining_s <= 0:
                break
            last = send_httpx(client, request, min(bars.llm_request_timeout_s, remaining_s))
            counts[last.status_key] += 1
            if last.status is not None and last.latency_ms is not None:
                latencies.append(last.latency_ms)
            if last.status is not None and 200 <= last.status < 300:
                recovered_after = time.monotonic() - burst_end
                break
            time.sleep(min(RECOVERY_PAUSE_S, max(0.0, window_s - (time.monotonic() - burst_end))))
    extra: dict[str, Any] = {
        "time_to_recover_s": round(recovered_after, 2) if recovered_after is not None else None,
        "measured_from": "the burst scenario's end" if own_burst is None else "recovery's own burst",
        "curl": curl_command(request),
    }
    if own_burst is not None:
        extra["burst"] = own_burst.to_dict()
        extra["burst_error"] = own_burst.error
    if own_burst is not None and not own_burst.ok:
        passed, summary = False, f"the burst could not run ({own_burst.error})"
    elif recovered_after is not None:
        passed = True
        summary = f"answered {recovered_after:.1f} s after the burst (window {window_s:g} s)"
    else:
        passed = False
        what = f"last: {last.status_key}" if last is not None else "no try fitted"
        summary = f"no request answered within {window_s:g} s after the burst ({what})"
    return ScenarioResult(
        LlmScenarioName.RECOVERY,
        passed,
        summary,
        counts,
        latencies_ms=latencies,
        failure=None if passed or last is None else Failure(summary, request, last),
        duration_s=time.monotonic() - started,
        bars={"recovery_window_s": window_s, "request_timeout_s": bars.llm_request_timeout_s},
        extra=extra,
    )


class SlowReaders:
    """Streams opened over raw sockets and read a few bytes at a time, bounded in number and time.

    Each asks for a long answer (``llm_slow_max_tokens``) with a small receive buffer, so a server
    that writes a stream synchronously, or serves one stream at a time, stalls behind them.
    """

    def __init__(self, ctx: StressContext) -> None:
        self.ctx = ctx
        self.sockets: list[socket.socket] = []
        self.refused = 0
        self.closed_by_server = 0
        self.bytes_read = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        spec, bars = self.ctx.spec, self.ctx.bars
        body = chat_request(spec, "Tell me a long story about a lighthouse keeper.",
                            max_tokens=bars.llm_slow_max_tokens, stream=True)
        headers = [("Content-Type", "application/json"), *spec.auth_headers().items()]
        head = raw_head_for(spec, "POST", spec.predict_path, headers, len(body))
        for _ in range(bars.llm_slow_readers):
            try:
                sock = socket.socket(socket.AF_INET6 if ":" in spec.host else socket.AF_INET)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF_BYTES)
                sock.settimeout(CONNECT_TIMEOUT_S)
                sock.connect((spec.host, spec.port))
                if spec.is_https:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                    sock = context.wrap_socket(sock, server_hostname=spec.host)
                sock.sendall(head + body)
                sock.setblocking(False)
                self.sockets.append(sock)
            except OSError:
                self.refused += 1
        self._thread = threading.Thread(target=self._read_slowly, name="slow-readers", daemon=True)
        self._thread.start()

    def _read_slowly(self) -> None:
        bars = self.ctx.bars
        end = time.monotonic() + bars.llm_slow_hold_s
        while not self._stop.wait(bars.llm_slow_read_interval_s) and time.monotonic() < end:
            alive = []
            for sock in self.sockets:
                try:
                    data = sock.recv(bars.llm_slow_read_bytes)
                except (BlockingIOError, ssl.SSLWantReadError):
                    alive.append(sock)  # nothing yet: still open
                    continue
                except OSError:
                    data = b""
                if not data:  # the server closed (finished or dropped) this stream
                    self.closed_by_server += 1
                    sock.close()
                    continue
                self.bytes_read += len(data)
                alive.append(sock)
            self.sockets = alive

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()

    @property
    def still_open(self) -> int:
        return len(self.sockets)


def run_slow_readers(ctx: StressContext) -> ScenarioResult:
    """Slow readers hold streams open; a normal client's streams must still complete in time."""
    bars, spec = ctx.bars, ctx.spec
    started = time.monotonic()
    bar_ms = bars.llm_ttft_bar_s * 1000
    timeout_s = bars.llm_request_timeout_s
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    rows: list[dict[str, Any]] = []
    failure: Failure | None = None
    readers = SlowReaders(ctx)
    try:
        readers.open()
        opened = len(readers.sockets)
        time.sleep(SLOW_SETTLE_S)
        with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
            for i in range(bars.llm_slow_normal_streams):
                label = f"normal stream #{i + 1}"
                request = stream_request(ctx, label, chat_request(
                    spec, pick_prompt(SCHEMA_PROMPT_TARGET, i), max_tokens=bars.llm_max_tokens, stream=True))
                result = stream_chat(client, request.url, request.headers, request.body or b"", timeout_s)
                counts[result.status_key] += 1
                if result.status is not None and result.latency_ms is not None:
                    latencies.append(result.latency_ms)
                problem = _normal_stream_problem(label, result.status, result.error, result.timed_out,
                                                 result.ttft_ms, timeout_s, bar_ms)
                rows.append(stream_row(label, result, problem, request))
                if problem and failure is None:
                    failure = Failure(problem, request, result.answer())
        still_open = readers.still_open
    finally:
        readers.close()
    failed = sum(1 for row in rows if not row["ok"])
    ttfts = [row["ttft_ms"] for row in rows if row["ttft_ms"] is not None]
    if failure is None:
        summary = (
            f"{len(rows)} normal streams completed beside {opened} slow readers, TTFT up to "
            f"{max(ttfts):g} ms (bar {bar_ms:g} ms)"
        )
    else:
        summary = (
            f"{failed} of {len(rows)} normal streams beside {opened} slow readers failed; "
            f"first: {failure.reason}"
        )
    return ScenarioResult(
        LlmScenarioName.SLOW_READERS,
        failure is None,
        summary,
        counts,
        latencies_ms=latencies,
        failure=failure,
        duration_s=time.monotonic() - started,
        bars={"ttft_bar_s": bars.llm_ttft_bar_s, "slow_readers": bars.llm_slow_readers,
              "hold_s": bars.llm_slow_hold_s, "read_bytes": bars.llm_slow_read_bytes,
              "read_interval_s": bars.llm_slow_read_interval_s, "request_timeout_s": timeout_s},
        extra={
            "streams": rows,
            "slow_opened": opened,
            "slow_refused": readers.refused,
            "slow_closed_by_server": readers.closed_by_server,
            "slow_still_open_at_end": still_open,
            "slow_bytes_read": readers.bytes_read,
        },
    )


def _normal_stream_problem(
    label: str, status: int | None, error: str | None, timed_out: bool, ttft_ms: float | None,
    timeout_s: float, bar_ms: float,
) -> str | None:
    """A normal client's stream must be answered 200, end in time and start within the TTFT bar.

    Whether its chunks are well formed is ``stream_schema``'s verdict, not this one's.
    """
    if status is None:
        return f"{label}: no answer ({describe_error(error)})"
    if timed_out:
        return f"{label}: the stream had not ended after {timeout_s:g} s"
    if status != 200:
        return f"{label}: status {status}"
    if ttft_ms is None:
        return f"{label}: no token arrived"
    if ttft_ms > bar_ms:
        return f"{label}: first token after {ttft_ms:.0f} ms > {bar_ms:g} ms"
    return None
