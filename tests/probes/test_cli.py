"""``clfwatch probe run`` as a real process: killed and restarted, the gap is a gap; ``--once``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from probes.shard import shard_owner
from probes.writer import FLUSH_EVERY_S
from storage.engine import session_scope
from storage.models import ProberSession
from storage.probes import prober_coverage, prober_gaps
from tests.conftest import REPO_ROOT, free_port
from tests.probes.helpers import load_eval, register, rows_of
from tests.probes.targets_app import FarmState, create_farm
from tests.servers import process, stop_group, uvicorn_thread

INTERVAL_S = 0.5
DOWN_S = 3.0  # six intervals with no prober


def prober_env(database_url: str, tmp_path: Path, metrics_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env.update(
        CLFWATCH_DATABASE_URL=database_url,
        CLFWATCH_PROBE_INTERVAL_S=str(INTERVAL_S),
        CLFWATCH_PROBE_TIMEOUT_S="0.4",
        CLFWATCH_PROBE_METRICS_PORT=str(metrics_port),
        CLFWATCH_PROBE_SPILL_DIR=str(tmp_path / "spill"),
    )
    return env


PROBE_CMD = [sys.executable, "-m", "clfwatch.cli", "probe", "run"]


def prober_sessions(database_url: str) -> list[tuple[datetime, datetime]]:
    """(started_at, last_seen_at) of every prober session, oldest first."""
    with session_scope(database_url) as session:
        query = select(ProberSession.started_at, ProberSession.last_seen_at)
        query = query.order_by(ProberSession.started_at)
        return list(session.execute(query).tuples())


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until true: the test waits for what it needs, not for a fixed time.

    A fixed sleep is too short on a loaded machine (the prober's imports alone can take
    seconds) and wasted time on an idle one.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)


def test_killed_prober_leaves_a_gap_not_downtime(sqlite_url: str, tmp_path: Path) -> None:
    state = FarmState()
    with uvicorn_thread(create_farm(state)) as base:
        tid = register(sqlite_url, "team", f"{base}/healthy")
        port = free_port()
        env = prober_env(sqlite_url, tmp_path, port)
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        with process(PROBE_CMD, env=env, cwd=REPO_ROOT, ready_url=metrics_url) as first:
            # Let it probe and beat a while, measured in what it wrote, not in seconds.
            beats: set[datetime] = set()

            def settled() -> bool:
                beats.update(last for _, last in prober_sessions(sqlite_url))
                return len(beats) >= 3 and len(rows_of(sqlite_url, tid)) >= 4

            wait_until(settled, "the first prober writes 4 rows and 3 heartbeats")
            metrics = httpx.get(metrics_url).text
            # Kill it just after a heartbeat lands: the last heartbeat before the kill is known.
            before_kill = max(beats)
            wait_until(lambda: prober_sessions(sqlite_url)[0][1] > before_kill, "a next heartbeat")
            last_beat = prober_sessions(sqlite_url)[0][1]
            stop_group(first, signal.SIGKILL)
            killed_at = datetime.now(UTC)
            assert first.returncode == -signal.SIGKILL
        assert 'clfwatch_probes_total{kind="health",outcome="ok",target="team"}' in metrics
        assert "clfwatch_probe_latency_seconds_bucket" in metrics
        assert "clfwatch_probe_last_timestamp_seconds" in metrics
        time.sleep(DOWN_S)
        restarted_at = datetime.now(UTC)
        with process(PROBE_CMD, env=env, cwd=REPO_ROOT, ready_url=metrics_url) as second:
            wait_until(lambda: len(prober_sessions(sqlite_url)) == 2, "the second prober's session")
            second_seen_at = datetime.now(UTC)
            second_start = prober_sessions(sqlite_url)[1][0]
            wait_until(
                lambda: len([r for r in rows_of(sqlite_url, tid) if r.started_at >= second_start]) >= 4,
                "the second prober writes 4 rows",
            )
            stopping_at = datetime.now(UTC)
            stop_group(second, signal.SIGTERM)
            assert second.returncode == 0

    sessions = prober_sessions(sqlite_url)
    assert len(sessions) == 2, sessions
    # From the first start to the moment the second was asked to stop (its last heartbeat, on
    # SIGTERM, is later): covered but for one gap.
    with session_scope(sqlite_url) as session:
        gaps = prober_gaps(session, sessions[0][0], stopping_at)
        covered = prober_coverage(session, sessions[0][0], stopping_at)
    assert len(gaps) == 1, (gaps, covered)
    gap_start, gap_end = gaps[0]
    # The gap opens one interval after the last heartbeat before the kill (never before the
    # last one seen, never after the kill), and closes when the second prober started.
    assert last_beat + timedelta(seconds=INTERVAL_S) <= gap_start <= killed_at + timedelta(seconds=INTERVAL_S)
    assert gap_end == sessions[1][0]
    assert restarted_at <= gap_end <= second_seen_at
    assert (gap_end - gap_start).total_seconds() >= DOWN_S - INTERVAL_S
    rows = rows_of(sqlite_url, tid)
    assert rows and {r.outcome for r in rows} == {"ok"}
    # Nothing was recorded for the target during the gap: it is neither up nor down then.
    assert not [r for r in rows if gap_start < r.started_at < gap_end]
    before = [r for r in rows if r.started_at <= gap_start]
    after = [r for r in rows if r.started_at >= gap_end]
    assert len(before) >= 4 and len(after) >= 4
    assert len(before) + len(after) == len(rows)
    # SIGKILL loses the rows still in memory (at most one flush period's worth); they fall
    # after the last heartbeat written, so inside the gap, charged to no one.
    lost = len(state.log) - len(rows)
    assert 0 <= lost <= 2 * (FLUSH_EVERY_S / INTERVAL_S + 1)


def test_once_probes_every_target_replays_leftovers_and_exits(sqlite_url: str, tmp_path: Path) -> None:
    state = FarmState()
    load_eval(sqlite_url)
    with uvicorn_thread(create_farm(state)) as base:
        ids = [register(sqlite_url, f"t{i}", f"{base}/healthy") for i in range(3)]
        down = register(sqlite_url, "down", f"http://127.0.0.1:{free_port()}")
        spill_dir = tmp_path / "spill"
        spill_dir.mkdir()
        leftover = {
            "probe_uid": str(uuid.uuid4()), "target_id": ids[0], "kind": "health",
            "started_at": "2026-11-01T10:00:00+00:00", "outcome": "ok", "status_code": 200,
            "latency_ms": 4.0, "detail": None, "sample_id": None, "probability": None,
        }
        (spill_dir / "spill-1-old.jsonl").write_text(json.dumps(leftover) + "\n")
        env = prober_env(sqlite_url, tmp_path, 0)
        done = subprocess.run(
            [*PROBE_CMD, "--once"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "probes sent=8 ok=6 failed=2" in done.stdout
    assert list(spill_dir.iterdir()) == []
    for tid in ids:
        fresh = [r.kind for r in rows_of(sqlite_url, tid) if r.probe_uid != leftover["probe_uid"]]
        assert sorted(fresh) == ["health", "predict"]
    assert leftover["probe_uid"] in {r.probe_uid for r in rows_of(sqlite_url, ids[0])}
    assert [r.outcome for r in rows_of(sqlite_url, down)] == ["connect_error", "connect_error"]
    assert "event=probe_failed target=down kind=health outcome=connect_error" in done.stderr


@pytest.mark.parametrize("shard", ["2/2", "x", "1/2/3"])
def test_bad_shard_is_refused(shard: str, tmp_path: Path) -> None:
    env = prober_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, 0)
    done = subprocess.run(
        [*PROBE_CMD, "--once", "--shard", shard], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "shard" in done.stderr and "Traceback" not in done.stderr


def test_shards_split_targets(sqlite_url: str, tmp_path: Path) -> None:
    with uvicorn_thread(create_farm(FarmState())) as base:
        ids = [register(sqlite_url, f"t{i}", f"{base}/healthy") for i in range(6)]
        env = prober_env(sqlite_url, tmp_path, 0)
        done = subprocess.run(
            [*PROBE_CMD, "--once", "--shard", "1/2"], env=env, cwd=REPO_ROOT, capture_output=True,
            text=True, timeout=60,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    probed = {tid for tid in ids if rows_of(sqlite_url, tid)}
    owned = {tid for tid in ids if shard_owner(tid, 2) == 1}
    assert probed == owned and 0 < len(probed) < len(ids)
