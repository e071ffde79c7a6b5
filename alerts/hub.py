"""Joining the tracker to the prober, to storage and to the sender.

The prober calls ``observe`` once per probe result: it appends to a bounded queue and returns.
One background task feeds the tracker, stores incident changes (in a thread of its own, on
the writer's engine) and hands messages to the sender. Nothing here can slow a probe down, and
nothing raises into the prober: a database outage only delays incident rows and channel
look-ups (the last known channels are used meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from alerts.messages import reason_phrase, render
from alerts.sender import AlertSender, Delivery, Message
from alerts.tracker import (
    GAP_INTERVALS,
    OPENED,
    IncidentChange,
    IncidentTracker,
    Notice,
    ProbeResult,
)
from core.settings import Settings
from storage import alerts as store
from storage.alerts import ChannelURL

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE_MAX_RESULTS = 200_000  # a few minutes of a thousand targets; oldest dropped beyond
RESTORE_RETRY_S = 5.0
CLOSE_TIMEOUT_S = 15.0

SessionFactory = Callable[[], AbstractContextManager[Session]]


class AlertHub:
    """Incidents and messages for one prober."""

    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        *,
        sender: AlertSender | None = None,
        gap_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        interval_s = settings.probe_interval_s
        self.tracker = IncidentTracker(
            failure_threshold=settings.alert_failure_threshold,
            success_threshold=settings.alert_success_threshold,
            gap_s=gap_s if gap_s is not None else GAP_INTERVALS * interval_s + settings.probe_timeout_s,
            repeat_s=settings.alert_repeat_min * 60.0 if settings.alert_repeat_min else None,
        )
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alert-db")
        self.sender = sender or AlertSender(record=self._record_delivery)
        self._results: deque[ProbeResult] = deque(maxlen=QUEUE_MAX_RESULTS)
        self._names: dict[int, str] = {}
        self._incident_ids: dict[tuple[int, str], int] = {}  # open incidents
        self._resolved_ids: dict[tuple[int, str], int] = {}  # the last resolved, for its message
        self._channels: dict[int, list[ChannelURL]] = {}  # last known, per target
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._restored = False
        self._closing = False
        self.dropped = 0

    # --- called on the prober's event loop ----------------------------------------------

    def observe(self, target_name: str, row: Any) -> None:
        """Take one probe row (a ``storage.probes.ProbeRow``); returns at once."""
        if self._closing:
            return
        self._names[row.target_id] = target_name
        if len(self._results) == self._results.maxlen:
            self.dropped += 1
        ok = row.outcome == "ok"
        self._results.append(
            ProbeResult(
                target_id=row.target_id, kind=row.kind, ok=ok, outcome=row.outcome,
                reason="" if ok else reason_phrase(row.outcome, row.status_code), at=row.started_at,
            )
        )
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        assert self._wake is not None
        self._wake.set()

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Handle what is queued and finish sending (bounded); then stop."""
        self._closing = True
        if self._task is not None and self._wake is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=timeout_s / 2)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self.sender.close(timeout_s / 2)
        self._db.shutdown(wait=False, cancel_futures=True)

    # --- the background task -------------------------------------------------------------

    async def _in_db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.sessions() as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._db, run)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if not self._restored:
                await self._restore()
            if self._restored:
                while self._results:
                    await self._handle(self._results.popleft())
            if self._closing and (self._restored or not self._results):
                return
            self._wake.clear()
            if not self._restored:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=RESTORE_RETRY_S)
                if self._closing:
                    return
                continue
            await self._wake.wait()

    async def _restore(self) -> None:
        """Carry on the incidents an earlier run left open, before judging any new result."""
        try:
            opened = await self._in_db(lambda s: store.open_incidents(s))
        except Exception as exc:  # the database is away: results wait (bounded) in the queue
            log.warning("event=alerts_restore_failed error=%s", type(exc).__name__)
            return
        for inc in opened:
            self.tracker.restore(
                target_id=inc.target_id, kind=inc.kind, started_at=inc.started_at, outcome=inc.outcome,
                reason=inc.reason, failed_probes=inc.failed_probes,
            )
            self._incident_ids[(inc.target_id, inc.kind)] = inc.id
            self._names.setdefault(inc.target_id, inc.target_name)
        self._restored = True
        if opened:
            log.info("event=incidents_restored open=%d", len(opened))

    async def _handle(self, result: ProbeResult) -> None:
        decision = self.tracker.observe(result)
        for change in decision.changes:
            await self._store(change)
        for notice in decision.notices:
            await self._notify(notice)

    async def _store(self, change: IncidentChange) -> None:
        key = (change.target_id, change.kind)
        name = self._names.get(change.target_id, str(change.target_id))
        try:
            if change.change == OPENED:
                self._incident_ids[key] = await self._in_db(
                    lambda s: store.open_incident(
                        s, target_id=change.target_id, kind=change.kind, started_at=change.started_at,
                        outcome=change.outcome, reason=change.reason, failed_probes=change.failed_probes,
                    )
                )
            else:
                resolved_at = change.resolved_at or datetime.now(UTC)
                resolved_id = await self._in_db(
                    lambda s: store.resolve_incident(
                        s, target_id=change.target_id, kind=change.kind, resolved_at=resolved_at,
                        failed_probes=change.failed_probes,
                    )
                )
                if resolved_id is not None:
                    self._resolved_ids[key] = resolved_id
        except Exception as exc:  # the message still goes out; the row is what is lost
            log.warning("event=incident_store_failed target=%s kind=%s change=%s error=%s",
                        name, change.kind, change.change, type(exc).__name__)
        log.warning(
            "event=incident_%s target=%s kind=%s started_at=%s outcome=%s failed_probes=%d",
            change.change, name, change.kind, change.started_at.isoformat(), change.outcome,
            change.failed_probes,
        )
        if change.change != OPENED:
            self._incident_ids.pop(key, None)

    async def _channels_for(self, target_id: int) -> list[ChannelURL]:
        try:
            channels = await self._in_db(lambda s: store.channel_urls(s, target_id))
        except Exception as exc:  # last known channels through an outage
            log.warning("event=alert_channels_unavailable target_id=%d error=%s", target_id,
                        type(exc).__name__)
            return self._channels.get(target_id, [])
        self._channels[target_id] = channels
        return channels

    async def _notify(self, notice: Notice) -> None:
        name = self._names.get(notice.target_id, str(notice.target_id))
        title, body = render(notice, name, self.settings.public_url)
        key = (notice.target_id, notice.kinds[0])
        incident_id = self._incident_ids.get(key) or self._resolved_ids.get(key)
        channels = await self._channels_for(notice.target_id)
        now = datetime.now(UTC)
        for channel in channels:
            self.sender.submit(
                Message(channel, title, body, notice.event, notice.target_id, incident_id, now)
            )
        ids = [i for (tid, _k), i in self._incident_ids.items() if tid == notice.target_id]
        if ids and notice.event != "resolved":
            with contextlib.suppress(Exception):
                await self._in_db(lambda s: store.mark_notified(s, ids, now))

    async def _record_delivery(self, delivery: Delivery) -> None:
        m = delivery.message
        await self._in_db(
            lambda s: store.record_delivery(
                s, channel_id=m.channel.id, target_id=m.target_id, incident_id=m.incident_id,
                event=m.event, status=delivery.status, attempts=delivery.attempts, error=delivery.error,
                created_at=m.created_at, finished_at=delivery.finished_at,
            )
        )
