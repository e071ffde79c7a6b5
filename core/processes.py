"""Child processes in their own process group: start one, tell whether it lives, stop it for good.

Why a group of its own (a new session): a Ctrl-C in the terminal goes to the terminal's
foreground group, so it reaches only the parent, which then stops its children in order instead
of leaving a half-stopped tree. And why the group is what we stop, not the pid: a Streamlit
dashboard, a multi-worker uvicorn, a Locust master or a ``sh -c`` have children of their own that
must not outlive them.

Stopping is SIGTERM to the group, a bounded wait for every member to be gone, then SIGKILL to the
group. "Gone" ignores zombies: in a container whose PID 1 does not reap orphans, an exited
grandchild stays a zombie member of the group forever, and ``killpg(pgid, 0)`` still succeeds on
it, which would make every stop wait its full grace time and report a kill that never happened.

This module is the bottom layer's: it imports nothing from clfwatch's other packages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 10.0  # SIGTERM to SIGKILL
REAP_TIMEOUT_S = 5.0  # after SIGKILL, how long the members may take to vanish
POLL_S = 0.05
PROC = Path("/proc")

# What ``output`` may be: a Path (opened for appending, owned and closed by us), an open binary
# file (the caller's, e.g. shared by several children), ``subprocess.DEVNULL``, or None (inherit
# the parent's stdout and stderr).
Output = Path | IO[bytes] | int | None


@dataclass(eq=False)  # one object per child: compared and hashed by identity
class GroupProcess:
    """A child started by :func:`start_group`; its pid is also its process group id."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path | None = None
    _owned_log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session makes the child the leader of its own group

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def poll(self) -> int | None:
        """The leader's exit code, or None while it runs (members of its group may outlive it)."""
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the leader; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        return self.proc.wait(timeout=timeout)

    def alive(self) -> bool:
        """Whether the leader or any process left in its group still runs."""
        return bool(alive_groups([self]))

    def stop(self, *, grace_s: float = DEFAULT_GRACE_S) -> bool:
        """Stop the whole group; True when it had to be SIGKILLed."""
        return bool(stop_groups([self], grace_s=grace_s))

    def close_log(self) -> None:
        if self._owned_log is not None:
            self._owned_log.close()
            self._owned_log = None


def start_group(
    argv: Sequence[str],
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    output: Output = subprocess.DEVNULL,
    header: bool = True,
) -> GroupProcess:
    """Start ``argv`` as the leader of a new session and process group, stdin from /dev/null.

    ``env`` replaces the environment when given (None: inherit). stdout and stderr both go to
    ``output`` (see :data:`Output`); with a Path, ``header`` writes a dated line first, so the
    log of a restarted child shows where each run begins.
    """
    name = name or Path(argv[0]).name
    owned: IO[bytes] | None = None
    log_path: Path | None = None
    stdout: IO[bytes] | int | None
    if isinstance(output, Path):
        log_path = output
        output.parent.mkdir(parents=True, exist_ok=True)
        owned = open(output, "ab")  # noqa: SIM115 - closed by stop_groups or close_log
        if header:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            owned.write(f"--- started {name} at {stamp} ---\n".encode())
            owned.flush()
        stdout = owned
    else:
        stdout = output
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=None if stdout is None else subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    log.debug("event=group_started name=%s pid=%d", name, proc.pid)
    return GroupProcess(name, proc, log_path, owned)


def _live_processes() -> dict[int, int]:
    """pid -> process group of every live (not zombie) process; one pass over /proc (Linux)."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            found[int(entry.name)] = int(fields[2])
    return found


def group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes in group ``pgid``; Linux, from /proc."""
    return sorted(pid for pid, group in _live_processes().items() if group == pgid)


def _signalable(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's group: the pgid was reused, ours is gone
    return True


def alive_groups(groups: Sequence[GroupProcess]) -> list[GroupProcess]:
    """The groups that still have a live member (zombies do not count); one /proc pass for all."""
    candidates = []
    for group in groups:
        group.poll()  # reap the leader, so it does not count as a zombie member
        if _signalable(group.pgid):
            candidates.append(group)
    if not candidates or not PROC.is_dir():
        return candidates  # without /proc a zombie member cannot be told apart
    live = set(_live_processes().values())
    return [group for group in candidates if group.pgid in live]


def group_alive(pgid: int) -> bool:
    """Whether any live process is left in group ``pgid`` (zombies do not count)."""
    if not _signalable(pgid):
        return False
    if not PROC.is_dir():
        return True
    return pgid in set(_live_processes().values())


def signal_group(pgid: int, signum: signal.Signals) -> bool:
    """Send ``signum`` to the group; False when there was no such group any more."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def stop_groups(groups: Sequence[GroupProcess], *, grace_s: float = DEFAULT_GRACE_S) -> list[GroupProcess]:
    """Stop every group at once: SIGTERM, up to ``grace_s`` to exit, then SIGKILL.

    Returns the groups that had to be SIGKILLed. The groups are signalled together, so stopping
    six children takes one grace time, not six. Logs opened by :func:`start_group` are closed.
    """
    for group in alive_groups(groups):
        signal_group(group.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive_groups(groups) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    killed = alive_groups(groups)
    for group in killed:
        log.warning("event=group_killed name=%s pid=%d grace_s=%g", group.name, group.pid, grace_s)
        signal_group(group.pgid, signal.SIGKILL)
    deadline = time.monotonic() + REAP_TIMEOUT_S
    for group in groups:
        with contextlib.suppress(subprocess.TimeoutExpired):
            group.wait(timeout=max(0.0, deadline - time.monotonic()))
    while alive_groups(killed) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for group in groups:
        group.close_log()
    return killed

