"""``probe run --shard auto``: StatefulSet pods split the targets among the live peers.

Two real prober processes named like the pods of a StatefulSet (``clfwatch-prober-0`` and
``-1``) on one Postgres: once both are live, every target is probed once per slot, by one of
them; before the second starts, the first probes them all. The takeover of a peer that stopped
beating is checked on the prober's own target selection, with a heartbeat row made stale.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probes.runner import Prober, probe_phase_s, slot_of
from probes.shard import owner_among, peer_stale_s
from storage.engine import session_scope
from storage.probes import beat_prober_session, start_prober_session
from tests.conftest import REPO_ROOT, free_port
from tests.probes.helpers import make_settings, register, rows_of
from tests.probes.targets_app import FarmState, create_farm
from tests.probes.test_cli import PROBE_CMD, prober_env
from tests.servers import process, stop_group, uvicorn_thread

INTERVAL_S = 1.0
TARGETS = 10
ALONE_S = 4.0
BOTH_S = 12.0
SETTLE_S = 5.0  # one target reload (3 intervals) and a second to spare


def _env(pg_url: str, tmp_path: Path, ordinal: int) -> tuple[dict[str, str], str]:
    port = free_port()
    env = prober_env(pg_url, tmp_path / f"pod-{ordinal}", port)
    env.update(CLFWATCH_PROBE_INTERVAL_S=str(INTERVAL_S), CLFWATCH_PROBE_TIMEOUT_S="0.8")
    env["HOSTNAME"] = f"clfwatch-prober-{ordinal}"
    return env, f"http://127.0.0.1:{port}/metrics"


def _slots(pg_url: str, target_id: int, since: datetime, until: datetime) -> Counter[int]:
    """How many predict probes each schedule slot of the window got."""
    phase = probe_phase_s(target_id, "predict", INTERVAL_S)
    counts: Counter[int] = Counter()
    for row in rows_of(pg_url, target_id, "predict"):
        if since <= row.started_at <= until:
            counts[slot_of(row.started_at.timestamp(), phase, INTERVAL_S)[0]] += 1
    return counts


def test_two_pods_probe_every_target_once_per_slot(pg_url: str, tmp_path: Path) -> None:
    with uvicorn_thread(create_farm(FarmState())) as base:
        ids = [register(pg_url, f"team-{i}", f"{base}/healthy") for i in range(TARGETS)]
        env0, ready0 = _env(pg_url, tmp_path, 0)
        env1, ready1 = _env(pg_url, tmp_path, 1)
        with process([*PROBE_CMD, "--shard", "auto"], env=env0, cwd=REPO_ROOT, ready_url=ready0) as pod0:
            began = datetime.now(UTC)
            time.sleep(ALONE_S)
            with process([*PROBE_CMD, "--shard", "auto"], env=env1, cwd=REPO_ROOT, ready_url=ready1) as pod1:
                second_at = datetime.now(UTC)
                time.sleep(BOTH_S)
                ended = datetime.now(UTC)
                stop_group(pod1, signal.SIGTERM)
            stop_group(pod0, signal.SIGTERM)
        assert pod0.returncode == 0 and pod1.returncode == 0

    alone = (began + timedelta(seconds=1.5), second_at - timedelta(seconds=0.5))
    both = (second_at + timedelta(seconds=SETTLE_S), ended - timedelta(seconds=1.5))
    owners = {tid: owner_among(tid, {0, 1}) for tid in ids}
    assert set(owners.values()) == {0, 1}  # the scheme gives each pod some of the ten
    for tid in ids:
        for since, until in (alone, both):
            counts = _slots(pg_url, tid, since, until)
            expected = int((until - since).total_seconds() / INTERVAL_S)
            assert counts and max(counts.values()) == 1, (tid, counts)  # never probed twice
            assert len(counts) >= expected - 1, (tid, counts, expected)  # never skipped


def test_a_peer_that_stops_beating_has_its_targets_taken_over(sqlite_url: str, tmp_path: Path) -> None:
    ids = [register(sqlite_url, f"team-{i}", f"http://127.0.0.1:9/{i}") for i in range(40)]
    settings = make_settings(sqlite_url, tmp_path, probe_interval_s=INTERVAL_S)
    prober = Prober(settings, peer_ordinal=0)
    now = datetime.now(UTC)
    with session_scope(sqlite_url) as session:
        start_prober_session(session, session_id="peer-2", hostname="clfwatch-prober-2",
                             interval_s=INTERVAL_S, at=now, shard_ordinal=2)

    mine = {t.id for t in prober._load()[0]}
    assert mine == {tid for tid in ids if owner_among(tid, {0, 2}) == 0}
    assert 0 < len(mine) < len(ids)

    with session_scope(sqlite_url) as session:  # the peer's last beat is older than the bound
        stale = now - timedelta(seconds=peer_stale_s(INTERVAL_S) + 1)
        session.execute(__import__("sqlalchemy").text(
            "UPDATE prober_sessions SET last_seen_at = :at WHERE id = 'peer-2'"), {"at": stale})
    assert {t.id for t in prober._load()[0]} == set(ids)

    with session_scope(sqlite_url) as session:  # it beats again: the split comes back
        beat_prober_session(session, session_id="peer-2", at=datetime.now(UTC))
    assert {t.id for t in prober._load()[0]} == mine


def test_shard_auto_refuses_a_host_name_without_an_ordinal(sqlite_url: str, tmp_path: Path) -> None:
    import subprocess

    env, _ = _env(sqlite_url, tmp_path, 0)
    env["HOSTNAME"] = "laptop"
    done = subprocess.run([*PROBE_CMD, "--once", "--shard", "auto"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "-<number>" in done.stderr and "laptop" in done.stderr and "Traceback" not in done.stderr
