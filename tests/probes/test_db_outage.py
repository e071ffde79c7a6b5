"""The database goes away while the prober runs: every probe still lands, exactly once."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from probes.runner import Prober, probe_phase_s, slot_of
from probes.writer import ProbeWriter, row_from_json, spill_files
from storage.engine import session_scope
from storage.models import ProberSession
from storage.probes import ProbeRow, prober_gaps
from tests.conftest import free_port
from tests.probes.helpers import make_settings, register, rows_of, run_prober
from tests.probes.proxy import CuttableProxy
from tests.probes.targets_app import FarmState, create_farm
from tests.servers import uvicorn_thread
from tests.storage.test_probes_storage import assert_rollups_match_raw

# The farm and the cut proxy share this process with the prober: at the usual 0.5 s test
# interval a stall of the shared machine at the moment of the cut could skip a slot or time a
# probe out, which is the machine's doing, not the prober's. A 1 s interval with a 0.8 s
# timeout keeps the schedule tight and the test about the database.
INTERVAL_S = 1.0
TIMEOUT_S = 0.8
CUT_S = 4.0  # four probe intervals
BEFORE_S = 1.5
AFTER_S = 3.0
WRITER_TICK_S = 30.0  # the writer's own tick in test_writer_batches_rows, far beyond any stall


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    handler = LogLines()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(old)


def proxied(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def cut_and_restore(proxy: CuttableProxy, marks: dict[str, datetime]):  # type: ignore[no-untyped-def]
    async def during(prober: Prober) -> None:
        await asyncio.sleep(BEFORE_S)
        await asyncio.to_thread(proxy.cut)
        marks["cut"] = datetime.now(UTC)
        await asyncio.sleep(CUT_S)
        assert prober.writer.in_outage  # the cut was real: the prober noticed it
        await asyncio.to_thread(proxy.restore)
        marks["restored"] = datetime.now(UTC)
        await asyncio.sleep(AFTER_S)

    return during


def assert_every_slot_once(
    url: str, target_ids: list[int], marks: dict[str, datetime], skipped: int
) -> int:
    """Every schedule slot has its row (none twice), including during the cut; a slot without
    one is one of the ``skipped`` the prober counted (a machine so busy that the prober fell an
    interval behind skips a slot, never fails it), so none is lost.

    Slots, not gaps between start times: a probe that a busy machine starts late is still its
    own slot's probe, and only a missing or doubled slot means a lost or replayed-twice row.
    """
    in_cut = missing = 0
    for tid in target_ids:
        for kind in ("health", "predict"):
            rows = rows_of(url, tid, kind)
            starts = [r.started_at for r in rows]
            phase = probe_phase_s(tid, kind, INTERVAL_S)
            slots = [slot_of(s.timestamp(), phase, INTERVAL_S)[0] for s in starts]
            assert slots == sorted(set(slots)), (tid, kind, slots)  # none twice
            missing += slots[-1] - slots[0] + 1 - len(slots)
            assert len({r.probe_uid for r in rows}) == len(rows)
            in_cut += sum(marks["cut"] <= s <= marks["restored"] for s in starts)
    assert missing <= skipped, (missing, skipped)
    return in_cut


@pytest.mark.parametrize("buffer_rows", [10_000, 3], ids=["buffered", "spilled"])
def test_postgres_cut_loses_nothing(
    pg_url: str, tmp_path: Path, buffer_rows: int, log_lines: list[str]
) -> None:
    state = FarmState()
    pg_port = make_url(pg_url).port or 5432
    with uvicorn_thread(create_farm(state)) as base, CuttableProxy("127.0.0.1", pg_port) as proxy:
        ids = [register(pg_url, f"t{i}", f"{base}/healthy") for i in range(3)]
        settings = make_settings(
            proxied(pg_url, proxy.port), tmp_path, probe_buffer_rows=buffer_rows,
            probe_interval_s=INTERVAL_S, probe_timeout_s=TIMEOUT_S,
        )
        marks: dict[str, datetime] = {}
        prober = run_prober(settings, BEFORE_S + CUT_S + AFTER_S, during=cut_and_restore(proxy, marks))

    total = sum(len(rows_of(pg_url, tid)) for tid in ids)
    assert total == prober.stats.sent == len(state.log)
    in_cut = assert_every_slot_once(pg_url, ids, marks, prober.stats.skipped)
    assert in_cut >= 3 * 2 * (CUT_S / INTERVAL_S - 1)  # the cut's probes are all there
    assert prober.writer.stats.outages == 1
    assert sum("event=db_unavailable" in line for line in log_lines) == 1  # once per outage, not per row
    assert sum("event=db_recovered" in line for line in log_lines) == 1
    if buffer_rows == 3:
        assert prober.writer.stats.spilled > 0
        assert prober.writer.stats.replayed == prober.writer.stats.spilled
        assert any("event=buffer_spilled" in line for line in log_lines)
    else:
        assert prober.writer.stats.spilled == 0
    assert spill_files(settings.probe_spill_dir) == []
    assert_rollups_match_raw(pg_url)
    # The prober ran through the outage: its coverage has no hole there, from a second before
    # the cut (or its start, when opening took longer than BEFORE_S - 1 s on a busy machine).
    with session_scope(pg_url) as session:
        beat = session.get(ProberSession, prober.session_id)
        assert beat is not None and beat.started_at < marks["cut"]
        since = max(marks["cut"] - timedelta(seconds=1), beat.started_at)
        assert prober_gaps(session, since, marks["restored"]) == []


def _rows(target_id: int, n: int) -> list[ProbeRow]:
    now = datetime.now(UTC)
    return [
        ProbeRow(
            probe_uid=str(uuid.uuid4()), target_id=target_id, kind="health",
            started_at=now + timedelta(milliseconds=i), outcome="ok", status_code=200, latency_ms=1.0 + i,
        )
        for i in range(n)
    ]


def test_shutdown_while_database_is_down_spills_and_next_start_replays(db_url: str, tmp_path: Path) -> None:
    spill_dir = tmp_path / "spill"
    tid = register(db_url, "t", "http://127.0.0.1:9")
    dead_url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    rows = _rows(tid, 25)

    async def first_run() -> ProbeWriter:
        writer = ProbeWriter(dead_url, buffer_rows=10, spill_dir=spill_dir, interval_s=1.0)
        writer.start_session(datetime.now(UTC))
        for row in rows:
            writer.add(row)
        assert not await writer.flush()
        await writer.close(datetime.now(UTC))
        return writer

    first = asyncio.run(first_run())
    assert first.stats.spilled == 25 and first.stats.outages == 1
    files = spill_files(spill_dir)
    assert files and not list(spill_dir.glob("*.part"))
    keep = tmp_path / "copy.jsonl"
    shutil.copy(files[0], keep)

    async def next_start() -> ProbeWriter:
        writer = ProbeWriter(db_url, buffer_rows=10, spill_dir=spill_dir, interval_s=1.0)
        assert await writer.replay_spilled()
        shutil.copy(keep, spill_dir / ("zz-again" + keep.suffix))  # the same rows, replayed twice
        assert await writer.replay_spilled()
        await writer.close()
        return writer

    second = asyncio.run(next_start())
    assert spill_files(spill_dir) == []
    assert second.stats.written == 25
    stored = rows_of(db_url, tid)
    assert sorted(r.probe_uid for r in stored) == sorted(r.probe_uid for r in rows)
    assert_rollups_match_raw(db_url)


def test_writer_batches_rows(sqlite_url: str, tmp_path: Path) -> None:
    tid = register(sqlite_url, "t", "http://127.0.0.1:9")

    async def go() -> tuple[int, float]:
        writer = ProbeWriter(
            sqlite_url, buffer_rows=1000, spill_dir=tmp_path, interval_s=WRITER_TICK_S, batch_rows=10
        )
        stop = asyncio.Event()
        task = asyncio.create_task(writer.run(stop))
        started = time.monotonic()
        for row in _rows(tid, 10):  # a full batch wakes the writer long before its tick
            writer.add(row)
        while writer.stats.written < 10 and time.monotonic() - started < WRITER_TICK_S:
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
        stop.set()
        await task
        await writer.close()
        return writer.stats.written, took

    written, took_s = asyncio.run(go())
    assert written == 10
    assert took_s < WRITER_TICK_S / 2  # not the tick: a busy machine's delays are far shorter


def test_overflow_spill_never_holds_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk holds the spill's fsync; probing (the loop) goes on, and no row is lost."""
    spill_dir = tmp_path / "spill"
    dead_url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    rows = _rows(1, 7)
    disk_free = threading.Event()
    real_fsync = os.fsync

    def held_fsync(fd: int) -> None:
        assert disk_free.wait(timeout=10), "the test never released the disk"
        real_fsync(fd)

    monkeypatch.setattr("probes.writer.os.fsync", held_fsync)

    async def go() -> ProbeWriter:
        writer = ProbeWriter(dead_url, buffer_rows=3, spill_dir=spill_dir, interval_s=1.0)
        for row in rows:
            writer.add(row)  # two overflows: each hands its rows to a worker thread
        await asyncio.sleep(0.05)
        # The loop ran while both spills wait on the disk: nothing is on disk, nothing lost.
        assert spill_files(spill_dir) == [] and writer.stats.spilled == 0
        assert writer.buffered == 1
        disk_free.set()
        await writer.close()
        return writer

    writer = asyncio.run(go())
    spilled = [row_from_json(line) for f in spill_files(spill_dir) for line in f.read_text().splitlines()]
    assert [r.probe_uid for r in spilled] == [r.probe_uid for r in rows]  # in order, once each
    assert writer.stats.spilled == 7
