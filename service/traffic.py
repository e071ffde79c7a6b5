"""The reference service's traffic sample: the last N texts it classified, for text drift.

A prediction must never wait for, or fail because of, the database. ``TrafficRing.offer`` only
appends to an in-memory buffer (a lock and a deque append); a daemon thread writes what has
gathered in one transaction every ``flush_interval_s`` and prunes the table to N rows. A full
buffer or a failed write drops texts and counts them (``reason`` label) instead of retrying:
the sample is a sample, and an outage must not grow memory.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import Counter
from sqlalchemy.engine import make_url

from storage.engine import session_scope
from storage.traffic import add_traffic_texts

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
STOP_TIMEOUT_S = 5.0  # at shutdown, the last flush gets this long before its texts are let go
REASON_BUFFER_FULL = "buffer_full"
REASON_DATABASE = "database"


class TrafficRing:
    """Buffers offered texts and writes them in batches from a thread of its own.

    The buffer holds at most ``keep`` texts, the newest: older ones could never survive the
    prune anyway, so a full buffer drops (and counts) its oldest text, as the ring would.
    """

    def __init__(
        self,
        database_url: str,
        *,
        keep: int,
        dropped: Counter,
        written: Counter,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.database_url = database_url
        self.keep = keep
        self.flush_interval_s = flush_interval_s
        self._dropped = dropped
        self._written = written
        self._buffer: deque[tuple[datetime, str]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False  # log a failing database once per outage, not once per batch

    def offer(self, text: str) -> None:
        """Keep ``text`` for the next batch (a full buffer drops its oldest, counted); no I/O."""
        with self._lock:
            full = len(self._buffer) >= self.keep
            self._buffer.append((datetime.now(UTC), text))  # maxlen: a full buffer lets its oldest go
        if full:
            self._dropped.labels(reason=REASON_BUFFER_FULL).inc()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="traffic-ring", daemon=True)
            self._thread.start()
            log.info("event=traffic_ring_started keep=%d", self.keep)

    def stop(self) -> None:
        """Write what is buffered (bounded by STOP_TIMEOUT_S), then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=STOP_TIMEOUT_S)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Write the buffered texts in one transaction; returns how many were written (0 when dropped)."""
        with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
        if not batch:
            return 0
        try:
            self._require_sqlite_file()
            with session_scope(self.database_url) as session:
                add_traffic_texts(session, batch, keep=self.keep)
        except Exception as exc:  # noqa: BLE001 - any database failure drops the batch, never the service
            self._dropped.labels(reason=REASON_DATABASE).inc(len(batch))
            if not self._failing:
                log.warning("event=traffic_ring_write_failed dropped=%d error=%s", len(batch),
                            type(exc).__name__)
                self._failing = True
            return 0
        if self._failing:
            log.info("event=traffic_ring_write_recovered")
            self._failing = False
        self._written.inc(len(batch))
        return len(batch)

    def _require_sqlite_file(self) -> None:
        """A SQLite file that does not exist is a database that is not there: never create an empty one."""
        url = make_url(self.database_url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") \
                and not Path(database).is_file():
            raise FileNotFoundError(database)
