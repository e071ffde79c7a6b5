"""Writing probe rows in small batches, and holding them through a database outage.

When the database is unreachable the prober keeps probing: rows wait in a bounded buffer
(one log line per outage, not per row); when the buffer would overflow they are spilled to
fsync'd JSONL files, replayed (then deleted) once the database answers again. Replays are
idempotent because every row carries its ``probe_uid``; nothing is lost on shutdown either,
since what cannot be written goes to a spill file that the next start replays first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections import deque
from contextlib import AbstractContextManager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.engine import make_engine, transaction
from storage.probes import ProbeRow, beat_prober_session, record_probes, start_prober_session

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0
BATCH_ROWS = 1000
REPLAY_CHUNK_ROWS = 5000
PG_CONNECT_TIMEOUT_S = 5
SPILL_SUFFIX = ".jsonl"
REJECTED_PREFIX = "rejected-"


@dataclass
class WriterStats:
    """Running totals since the writer started."""

    written: int = 0  # rows newly inserted (replays of known rows not counted)
    spilled: int = 0  # rows moved to spill files
    replayed: int = 0  # rows read back from spill files and committed
    spill_files: int = 0  # spill files written
    outages: int = 0  # times the database went away


def row_to_json(row: ProbeRow) -> str:
    item = asdict(row)
    item["started_at"] = row.started_at.isoformat()
    return json.dumps(item, separators=(",", ":"))


def row_from_json(line: str) -> ProbeRow:
    item = json.loads(line)
    item["started_at"] = datetime.fromisoformat(item["started_at"])
    return ProbeRow(**item)


def _is_outage(exc: BaseException) -> bool:
    """True for errors that mean "database unreachable", as opposed to a bad row."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def spill_files(spill_dir: Path) -> list[Path]:
    """Spill files waiting to be replayed, oldest first."""
    if not spill_dir.is_dir():
        return []
    return sorted(
        (p for p in spill_dir.glob(f"*{SPILL_SUFFIX}") if not p.name.startswith(REJECTED_PREFIX)),
        key=lambda p: p.name,
    )


class ProbeWriter:
    """Batches probe rows and heartbeats into the database, buffering through outages.

    ``add`` and ``beat`` are called on the event loop and never block on the database;
    writes run in a worker thread via ``asyncio.to_thread``.
    """

    def __init__(
        self,
        database_url: str,
        *,
        buffer_rows: int,
        spill_dir: Path,
        interval_s: float,
        session_id: str | None = None,
        hostname: str | None = None,
        shard_ordinal: int | None = None,
        flush_every_s: float = FLUSH_EVERY_S,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.database_url = database_url
        self.buffer_rows = buffer_rows
        self.spill_dir = Path(spill_dir)
        self.interval_s = interval_s
        self.session_id = session_id or str(uuid.uuid4())
        self.hostname = hostname or socket.gethostname()
        self.shard_ordinal = shard_ordinal
        self.flush_every_s = flush_every_s
        self.batch_rows = max(1, min(batch_rows, buffer_rows))
        self.stats = WriterStats()
        self._pending: deque[ProbeRow] = deque()
        self._inflight = 0
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._session_started_at: datetime | None = None  # set until the session row is written
        self._beat_at: datetime | None = None  # newest heartbeat not yet written
        # its worst lateness ms, late probes so far, newest late probe
        self._beat_lateness: tuple[float | None, int, datetime | None] = (None, 0, None)
        self._outage_since: float | None = None
        self._spill_seq = 0
        # Overflow spills under way in worker threads: their fsync can take a second on a
        # busy disk, and the event loop that times probes must not wait for it.
        self._spill_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    # --- called on the event loop ------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Rows held in memory, written or not yet."""
        return len(self._pending) + self._inflight

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def add(self, row: ProbeRow) -> None:
        """Queue one row; spills the buffer to disk first if it would overflow."""
        if self.buffered >= self.buffer_rows:
            self._spill_in_background()
        self._pending.append(row)
        if len(self._pending) >= self.batch_rows and not self.in_outage:
            self._wake.set()

    def start_session(self, at: datetime) -> None:
        """Record the prober session's start (written with the next batch)."""
        self._session_started_at = at
        self._beat_at = at

    def beat(
        self, at: datetime, *, lateness_ms: float | None = None, late_probes: int = 0,
        late_at: datetime | None = None,
    ) -> None:
        """Note that the prober is alive at ``at``; written with the next batch.

        ``lateness_ms``: the worst start delay of the probes since the previous beat;
        ``late_probes``, ``late_at``: probes marked late so far and the newest one's time (the
        dashboard's overload banner).
        While the database is away only the newest beat is kept, so the beat written after
        recovery covers the outage (the prober was running and its rows were buffered).
        """
        self._beat_at = at
        self._beat_lateness = (lateness_ms, late_probes, late_at or self._beat_lateness[2])

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_every_s`` (or when a batch is full) until ``stop`` is set."""
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_every_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write what is pending, then replay one spill file; False if the database is away."""
        async with self._lock:
            while True:
                batch = [self._pending.popleft() for _ in range(min(self.batch_rows, len(self._pending)))]
                start_at, beat_at = self._session_started_at, self._beat_at
                lateness = self._beat_lateness
                if not batch and start_at is None and beat_at is None:
                    break
                self._inflight = len(batch)
                try:
                    written = await asyncio.to_thread(self._write, batch, start_at, beat_at, lateness)
                except asyncio.CancelledError:
                    # The thread may or may not commit: keep the rows, a rewrite is a no-op.
                    self._inflight = 0
                    self._pending.extendleft(reversed(batch))
                    raise
                except Exception as exc:  # recorded as an outage or a rejected batch, never raised
                    self._inflight = 0
                    if _is_outage(exc):
                        self._pending.extendleft(reversed(batch))
                        self._enter_outage(exc)
                        return False
                    self._reject(batch, exc)
                    continue
                self._inflight = 0
                self.stats.written += written
                if self._session_started_at == start_at:
                    self._session_started_at = None
                if self._beat_at == beat_at:
                    self._beat_at = None
                self._leave_outage()
                if not self._pending:
                    break
            return await self._replay_one()

    async def replay_spilled(self) -> bool:
        """Replay every spill file (used at start, before probing); False if the database is away."""
        async with self._lock:
            while spill_files(self.spill_dir):
                if not await self._replay_one():
                    return False
            return True

    async def close(self, at: datetime | None = None) -> None:
        """Final flush with a last heartbeat; whatever cannot be written is spilled to disk."""
        if at is not None:
            lateness_ms, late_probes, late_at = self._beat_lateness  # the last beat's, kept
            self.beat(at, lateness_ms=lateness_ms, late_probes=late_probes, late_at=late_at)
        await self.spills_done()  # a spill still being written lands on disk first
        for _ in range(3):
            if await self.flush() and not self._pending:
                break
        if self._pending:
            self._spill_pending()
        elif not self.in_outage:
            # The database is there: spill files of this run go in now, not at the next start.
            await self.replay_spilled()
        if self.in_outage:
            log.warning(
                "event=db_unavailable_at_shutdown spilled_rows=%d spill_dir=%s",
                self.stats.spilled, self.spill_dir,
            )
        if self._engine is not None:
            self._engine.dispose()

    # --- internals ---------------------------------------------------------------------

    def _session_factory(self) -> sessionmaker[Session]:
        if self._sessions is None:
            kwargs = {}
            if make_url(self.database_url).get_backend_name() == "postgresql":
                kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
            self._engine = make_engine(self.database_url, **kwargs)
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        return self._sessions

    def session(self) -> AbstractContextManager[Session]:
        """A transaction on the writer's own engine (short connect timeout)."""
        return transaction(self._session_factory())

    def _write(
        self, rows: list[ProbeRow], start_at: datetime | None, beat_at: datetime | None,
        lateness: tuple[float | None, int, datetime | None] = (None, 0, None),
    ) -> int:
        """One transaction: the session row if new, the rows and their rollups, the beat."""
        with self.session() as session:
            if start_at is not None:
                start_prober_session(
                    session, session_id=self.session_id, hostname=self.hostname,
                    interval_s=self.interval_s, at=start_at, shard_ordinal=self.shard_ordinal,
                )
            written = record_probes(session, rows)
            if beat_at is not None:
                beat_prober_session(
                    session, session_id=self.session_id, at=beat_at,
                    lateness_ms=lateness[0], late_probes=lateness[1], late_at=lateness[2],
                )
        return written

    def _replay_file(self, path: Path) -> int:
        rows = [row_from_json(line) for line in path.read_text().splitlines() if line.strip()]
        written = 0
        with self.session() as session:
            for start in range(0, len(rows), REPLAY_CHUNK_ROWS):
                written += record_probes(session, rows[start : start + REPLAY_CHUNK_ROWS])
        # Another replica may have replayed the same file: both writes were idempotent.
        with suppress(FileNotFoundError):
            path.unlink()
        self.stats.replayed += len(rows)
        return written

    async def _replay_one(self) -> bool:
        files = spill_files(self.spill_dir)
        if not files:
            return True
        path = files[0]
        try:
            written = await asyncio.to_thread(self._replay_file, path)
        except FileNotFoundError:
            return True
        except Exception as exc:  # recorded as an outage; the file stays for the next try
            if _is_outage(exc):
                self._enter_outage(exc)
                return False
            log.error("event=spill_replay_failed file=%s error=%s", path.name, type(exc).__name__)
            path.rename(path.with_name(REJECTED_PREFIX + path.name))
            return True
        self._leave_outage()
        self.stats.written += written
        log.info("event=spill_replayed file=%s new_rows=%d", path.name, written)
        return True

    def _spill_name(self, prefix: str = "") -> str:
        """A new spill file's name; taken on the event loop, so names sort in buffer order."""
        self._spill_seq += 1
        return f"{prefix}spill-{time.time_ns()}-{self.session_id[:8]}-{self._spill_seq:06d}{SPILL_SUFFIX}"

    def _write_spill(self, rows: list[ProbeRow], name: str) -> Path:
        """Write rows to a new spill file, atomically (temp name, fsync, rename)."""
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        final = self.spill_dir / name
        tmp = final.with_suffix(".part")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(row_to_json(r) + "\n" for r in rows))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        try:
            dir_fd = os.open(self.spill_dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass  # some filesystems refuse fsync on a directory; the file itself is synced
        return final

    async def spills_done(self) -> None:
        """Wait for the overflow spills under way (at shutdown, before the last flush)."""
        while self._spill_tasks:
            await asyncio.gather(*self._spill_tasks)

    def _spill_in_background(self) -> None:
        """Hand the whole buffer to a worker thread that spills it; the buffer starts empty."""
        if not self._pending:
            return
        rows = list(self._pending)
        self._pending.clear()
        name = self._spill_name()
        task = asyncio.get_running_loop().create_task(self._spill_rows(rows, name))
        self._spill_tasks.add(task)
        task.add_done_callback(self._spill_tasks.discard)

    async def _spill_rows(self, rows: list[ProbeRow], name: str) -> None:
        try:
            path = await asyncio.to_thread(self._write_spill, rows, name)
        except OSError as exc:
            # The disk refused (full, read-only): the rows go back to memory, oldest first,
            # and the next overflow tries again. Nothing is dropped.
            self._pending.extendleft(reversed(rows))
            log.error("event=spill_failed rows=%d error=%s", len(rows), type(exc).__name__)
            return
        self._spilled(rows, path)

    def _spill_pending(self) -> None:
        if not self._pending:
            return
        rows = list(self._pending)
        path = self._write_spill(rows, self._spill_name())
        self._pending.clear()
        self._spilled(rows, path)

    def _spilled(self, rows: list[ProbeRow], path: Path) -> None:
        self.stats.spilled += len(rows)
        self.stats.spill_files += 1
        log.warning("event=buffer_spilled rows=%d file=%s", len(rows), path.name)

    def _reject(self, rows: list[ProbeRow], exc: BaseException) -> None:
        """A batch the database refuses for its content: kept on disk for a human, not retried."""
        path = self._write_spill(rows, self._spill_name(REJECTED_PREFIX)) if rows else None
        log.error(
            "event=batch_rejected rows=%d error=%s file=%s",
            len(rows), type(exc).__name__, path.name if path else "-",
        )

    def _enter_outage(self, exc: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self.stats.outages += 1
            log.warning(
                "event=db_unavailable error=%s buffered=%d buffer_rows=%d",
                type(exc).__name__, self.buffered, self.buffer_rows,
            )

    def _leave_outage(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "event=db_recovered outage_s=%.1f buffered=%d spilled_total=%d",
                time.monotonic() - self._outage_since, self.buffered, self.stats.spilled,
            )
            self._outage_since = None


def utc_now() -> datetime:
    return datetime.now(UTC)
