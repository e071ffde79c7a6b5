"""core.processes with real child processes: groups start apart, stop whole, and leave nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import processes
from core.processes import group_alive, group_members, start_group, stop_groups


def live(pid: int) -> bool:
    """The pid runs and is not a zombie (PID 1 here does not reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for_pids(path: Path, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while True:
        text = path.read_text() if path.exists() else ""
        pids = [int(p) for p in text.split()]
        if len(pids) >= count:
            return pids
        assert time.monotonic() < deadline, f"the child wrote {pids} to {path}"
        time.sleep(0.05)


def test_the_child_leads_its_own_group_and_session_and_writes_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "echo.log"
    group = start_group(
        [sys.executable, "-c", "import os, sys; print(os.getpgid(0), os.getsid(0), os.environ['X_MARK']);"
         "print('to stderr', file=sys.stderr)"],
        name="echo", env={**os.environ, "X_MARK": "m-41"}, cwd=tmp_path, output=log,
    )
    assert group.wait(timeout=30) == 0
    stop_groups([group])  # closes the log
    lines = log.read_text().splitlines()
    assert lines[0].startswith("--- started echo at ")
    assert lines[1] == f"{group.pid} {group.pid} m-41"
    assert lines[2] == "to stderr"
    assert os.getpgid(0) != group.pid


def test_stop_terms_the_whole_group_within_the_grace_time(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    group = start_group(["sh", "-c", f"sleep 60 & echo $! > {pids}; wait"])
    grandchild = wait_for_pids(pids, 1)[0]
    assert set(group_members(group.pgid)) == {group.pid, grandchild}
    started = time.monotonic()
    assert stop_groups([group], grace_s=10) == []  # SIGTERM was enough: nothing killed
    assert time.monotonic() - started < 5
    assert group.returncode is not None and not live(grandchild)
    assert not group_alive(group.pgid) and group_members(group.pgid) == []


def test_a_child_ignoring_sigterm_is_killed_with_its_grandchildren(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"trap '' TERM; sh -c 'trap \"\" TERM; sleep 60' & sleep 60 & echo $! > {pids}; wait"
    group = start_group(["sh", "-c", script], name="stubborn")
    wait_for_pids(pids, 1)
    deadline = time.monotonic() + 10
    while len(group_members(group.pgid)) < 4:  # sh, inner sh, two sleeps
        assert time.monotonic() < deadline, group_members(group.pgid)
        time.sleep(0.05)
    members = group_members(group.pgid)
    started = time.monotonic()
    killed = stop_groups([group], grace_s=1.0)
    took = time.monotonic() - started
    assert killed == [group]
    assert 1.0 <= took < 6, took
    assert group.returncode == -signal.SIGKILL
    assert [pid for pid in members if live(pid)] == []
    assert not group.alive()


def test_grandchildren_left_after_the_leader_exits_are_still_stopped(tmp_path: Path) -> None:
    """The leader is gone, its orphans keep the group: stopping the group still reaches them."""
    pids = tmp_path / "pids"
    group = start_group(["sh", "-c", f"sleep 60 & echo $! > {pids}; exit 0"])
    orphan = wait_for_pids(pids, 1)[0]
    assert group.wait(timeout=10) == 0
    assert live(orphan) and group.alive()
    assert stop_groups([group], grace_s=5) == []
    assert not live(orphan) and not group.alive()


def test_many_groups_stop_in_one_grace_time_and_a_zombie_does_not_count(tmp_path: Path) -> None:
    """Six stubborn groups take about one grace time, not six; an exited orphan is no member."""
    groups = [start_group(["sh", "-c", "trap '' TERM; sleep 60"]) for _ in range(6)]
    quick = start_group(["sh", "-c", "sleep 0.2 & exit 0"])  # leaves a zombie grandchild behind
    quick.wait(timeout=10)
    time.sleep(0.5)
    assert not quick.alive()
    deadline = time.monotonic() + 10
    while not all(group_members(g.pgid) for g in groups):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    killed = stop_groups([*groups, quick], grace_s=1.0)
    assert time.monotonic() - started < 4
    assert killed == groups  # the quick one was gone already, never reported killed
    assert not any(g.alive() for g in groups)


def test_a_caller_owned_log_is_shared_and_left_open(tmp_path: Path) -> None:
    with open(tmp_path / "shared.log", "wb") as out:
        groups = [start_group([sys.executable, "-c", f"print('child {i}')"], output=out) for i in range(2)]
        for g in groups:
            g.wait(timeout=30)
        stop_groups(groups)
        assert not out.closed
    assert sorted((tmp_path / "shared.log").read_text().splitlines()) == ["child 0", "child 1"]


def test_a_command_that_cannot_start_raises_and_leaves_no_open_log(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        start_group([str(tmp_path / "no-such-program")], output=tmp_path / "x.log")
    assert (tmp_path / "x.log").read_text().startswith("--- started no-such-program")


def test_without_proc_a_live_group_is_alive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    group = start_group(["sleep", "60"])
    try:
        monkeypatch.setattr(processes, "PROC", tmp_path / "no-proc")
        assert group.alive()
    finally:
        monkeypatch.undo()
        stop_groups([group], grace_s=5)
    assert not group.alive()


def test_stop_of_a_group_that_ended_long_ago_is_quiet() -> None:
    group = start_group(["true"])
    group.wait(timeout=10)
    assert stop_groups([group], grace_s=5) == []
    assert stop_groups([group], grace_s=5) == []  # twice is fine


def test_inherited_output_reaches_the_parent(tmp_path: Path) -> None:
    """output=None: the child writes where the parent writes (``make up``'s training step)."""
    code = (
        "from core.processes import start_group; import sys;"
        "g = start_group([sys.executable, '-c', 'print(\"from the child\")'], output=None);"
        "sys.exit(g.wait(timeout=30))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0 and r.stdout == "from the child\n"
