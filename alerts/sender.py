"""Delivering messages through Apprise in the background: never blocks the prober.

Each channel has its own FIFO queue drained by one task, so a channel's "down" always goes out
before its "resolved", and a slow or failing channel delays nobody else. A failed attempt is
retried with exponential backoff a bounded number of times; the end of every delivery (sent, or
failed with the provider's reason) is handed to ``record``. Apprise's blocking sends run in a
pool of their own, so a hanging provider cannot starve the default executor that the probe
writer uses.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.alerts import DELIVERY_FAILED, DELIVERY_SENT, ChannelURL

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4  # the first send and three retries
BACKOFF_BASE_S = 1.0  # 1 s, 2 s, 4 s between attempts
BACKOFF_MAX_S = 60.0
SEND_THREADS = 4
QUEUE_PER_CHANNEL = 100  # beyond this a channel's oldest waiting message is dropped, logged
ERROR_MAX_CHARS = 500
DRAIN_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Message:
    """One message for one channel."""

    channel: ChannelURL
    title: str
    body: str
    event: str  # down, resolved, repeat, test
    target_id: int | None
    incident_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """How a message ended."""

    message: Message
    status: str  # DELIVERY_SENT or DELIVERY_FAILED
    attempts: int
    error: str | None
    finished_at: datetime


# --- Apprise, blocking ----------------------------------------------------------------------

_capture_lock = threading.Lock()
_captured: dict[int, list[str]] = {}
_handler_installed = False


class _ThreadCapture(logging.Handler):
    """Keeps Apprise's warnings per thread, so concurrent sends never mix their reasons."""

    def emit(self, record: logging.LogRecord) -> None:
        lines = _captured.get(threading.get_ident())
        if lines is not None:
            lines.append(record.getMessage())


def _install_capture() -> None:
    global _handler_installed
    with _capture_lock:
        if not _handler_installed:
            apprise_log = logging.getLogger("apprise")
            apprise_log.addHandler(_ThreadCapture(logging.WARNING))
            # Its warnings are the reasons we report, in our own one-line log and records; the
            # level is fixed so they exist whatever the process's level, and kept off the root.
            apprise_log.setLevel(logging.WARNING)
            apprise_log.propagate = False
            _handler_installed = True


def _reason(lines: list[str], fallback: str) -> str:
    text = "; ".join(dict.fromkeys(line.strip() for line in lines if line.strip())) or fallback
    return text[:ERROR_MAX_CHARS]


def check_url(url: str) -> tuple[Any | None, str | None]:
    """Apprise's plugin for ``url`` and None, or None and Apprise's reason it does not parse."""
    import apprise  # loads ~190 plugins (about a second): only ever off the event loop

    _install_capture()
    ident = threading.get_ident()
    _captured[ident] = []
    try:
        plugin = apprise.Apprise.instantiate(url)
        lines = _captured[ident]
    finally:
        _captured.pop(ident, None)
    if plugin is None:
        return None, _reason(lines, "not an Apprise URL Apprise knows")
    return plugin, None


def send_blocking(url: str, title: str, body: str) -> str | None:
    """Send one message now; None when the provider took it, else the provider's reason."""
    import apprise

    _install_capture()
    ident = threading.get_ident()
    _captured[ident] = []
    try:
        ap = apprise.Apprise()
        if not ap.add(url):
            return _reason(_captured[ident], "the channel's URL no longer parses")
        result = ap.notify(body=body, title=title, log_level=logging.WARNING)
        ok = bool(result)
        # Apprise 2 hands back the send's own log; it may send from a thread of its own.
        lines = [e.message for e in result.logs()] if hasattr(result, "logs") else _captured[ident]
    except Exception as exc:  # a provider plugin that raises is a failed delivery, not a crash
        return f"the provider raised {type(exc).__name__}"
    finally:
        _captured.pop(ident, None)
    return None if ok else _reason(lines, "the provider refused the message")


def warm_up() -> None:
    """Load Apprise's plugins now (about a second of CPU), not at the first incident.

    Loading holds the GIL for most of that second; done at the first send, it would delay the
    probes due meanwhile. At start it overlaps the prober's own start-up instead.
    """
    check_url("json://127.0.0.1/")


# --- the background sender ------------------------------------------------------------------


def backoff_s(attempt: int, base_s: float = BACKOFF_BASE_S) -> float:
    """Wait after failed attempt ``attempt`` (1-based): base, 2 x base, 4 x base, ... capped."""
    return float(min(base_s * (2 ** (attempt - 1)), BACKOFF_MAX_S))


class AlertSender:
    """Per-channel queues drained in the background, with bounded retries and backoff."""

    def __init__(
        self,
        *,
        record: Callable[[Delivery], Awaitable[None]] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
        send: Callable[[str, str, str], str | None] = send_blocking,
        threads: int = SEND_THREADS,
    ) -> None:
        self.record = record
        self.max_attempts = max(1, max_attempts)
        self.backoff_base_s = backoff_base_s
        self._send = send
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="alert-send")
        if send is send_blocking:
            self._pool.submit(warm_up)
        self._queues: dict[int, deque[Message]] = {}
        self._drainers: dict[int, asyncio.Task[None]] = {}
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values()) + len(self._drainers)

    def submit(self, message: Message) -> None:
        """Queue a message; returns at once. Must be called on the event loop."""
        queue = self._queues.setdefault(message.channel.id, deque())
        if len(queue) >= QUEUE_PER_CHANNEL:
            queue.popleft()
            self.dropped += 1
            log.warning("event=alert_dropped channel=%d reason=queue_full", message.channel.id)
        queue.append(message)
        if message.channel.id not in self._drainers:
            task = asyncio.get_running_loop().create_task(self._drain(message.channel.id))
            self._drainers[message.channel.id] = task

    async def _drain(self, channel_id: int) -> None:
        queue = self._queues[channel_id]
        try:
            while queue:
                await self._deliver(queue.popleft())
        finally:
            self._drainers.pop(channel_id, None)
            if not queue:
                self._queues.pop(channel_id, None)

    async def _deliver(self, message: Message) -> None:
        loop = asyncio.get_running_loop()
        error: str | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):  # noqa: B007 - attempts are recorded
            error = await loop.run_in_executor(
                self._pool, self._send, message.channel.url, message.title, message.body
            )
            if error is None:
                break
            log.warning(
                'event=alert_send_failed channel=%d event_kind=%s attempt=%d of=%d error="%s"',
                message.channel.id, message.event, attempt, self.max_attempts, error[:200],
            )
            if attempt < self.max_attempts:
                await asyncio.sleep(backoff_s(attempt, self.backoff_base_s))
        status = DELIVERY_SENT if error is None else DELIVERY_FAILED
        if error is None:
            self.sent += 1
            log.info("event=alert_sent channel=%d event_kind=%s attempts=%d", message.channel.id,
                     message.event, attempt)
        else:
            self.failed += 1
            log.error("event=alert_gave_up channel=%d event_kind=%s attempts=%d", message.channel.id,
                      message.event, attempt)
        if self.record is not None:
            try:
                await self.record(Delivery(message, status, attempt, error, datetime.now(UTC)))
            except Exception as exc:  # the message went (or not) either way; only its record is lost
                log.warning("event=alert_record_failed channel=%d error=%s", message.channel.id,
                            type(exc).__name__)

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait (bounded) until every queued message has ended; False if some were still going."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._drainers:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(list(self._drainers.values()), timeout=left)
        return True

    async def close(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Finish what is queued (bounded), then stop; what is left is logged and dropped."""
        if not await self.drain(timeout_s):
            log.warning("event=alerts_unsent_at_shutdown pending=%d", self.pending)
            for task in list(self._drainers.values()):
                task.cancel()
            await asyncio.gather(*self._drainers.values(), return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)
