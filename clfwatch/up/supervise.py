"""The supervisor: start the children, wait until they answer, watch them, stop them all.

Process groups (start in a session of its own, SIGTERM/SIGKILL to the group) are
``core.processes``'s; this module adds what ``make up`` needs on top: readiness by URL, the
operator's messages, and which child died.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from clfwatch.up.common import LOG_DIR, StopFlag, StopRequested, UpError, say
from core.processes import GroupProcess, start_group, stop_groups

READY_TIMEOUT_S = 120.0  # streamlit on a busy two-core machine needs tens of seconds
READY_POLL_S = 0.25
WATCH_POLL_S = 0.25
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: how to start it and how to tell that it answers."""

    name: str
    label: str  # what the operator reads next to the URL
    argv: list[str]
    base_url: str
    ready_path: str
    ready_needs_200: bool  # the flaky demo may answer 503 and still be up
    log_path: Path

    @property
    def ready_url(self) -> str:
        return self.base_url + self.ready_path


@dataclass
class Child:
    spec: ChildSpec
    proc: GroupProcess  # its own process group: the terminal's Ctrl-C reaches only us


def run_step(argv: list[str], stop: StopFlag, *, timeout_s: float) -> None:
    """Run a one-shot command in its own process group; Ctrl-C stops it too."""
    proc = start_group(argv, name=argv[3], output=None)  # its output is the operator's to read
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if stop.is_set or time.monotonic() > deadline:
            stop_groups([proc], grace_s=STOP_GRACE_S)
            if stop.is_set:
                raise StopRequested
            raise UpError(f"{' '.join(argv[3:])} took longer than {timeout_s:.0f} s")
        time.sleep(WATCH_POLL_S)
    if proc.returncode != 0:
        raise UpError(f"{' '.join(argv[3:])} failed with exit code {proc.returncode}")


def start_child(spec: ChildSpec, env: dict[str, str]) -> Child:
    return Child(spec, start_group(spec.argv, name=spec.name, env=env, output=spec.log_path))


def answers(spec: ChildSpec, client: httpx.Client) -> bool:
    try:
        response = client.get(spec.ready_url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 or not spec.ready_needs_200


def wait_ready(children: Sequence[Child], stop: StopFlag, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Block until every child answers its ready URL; UpError naming the first that does not."""
    pending = list(children)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while pending:
            if stop.is_set:
                raise StopRequested
            for child in list(pending):
                if child.proc.poll() is not None:
                    raise UpError(
                        f"{child.spec.name} exited with code {child.proc.returncode} while starting; "
                        f"see {child.spec.log_path}"
                    )
                if answers(child.spec, client):
                    say(f"  {child.spec.name} is up")
                    pending.remove(child)
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.spec.name for c in pending)
                raise UpError(f"not answering after {timeout_s:.0f} s: {names}; see {LOG_DIR}/*.log")
            if pending:
                time.sleep(READY_POLL_S)


def stop_children(children: Sequence[Child]) -> None:
    if not children:
        return
    say("stopping " + ", ".join(c.spec.name for c in children))
    killed = stop_groups([c.proc for c in children], grace_s=STOP_GRACE_S)
    for child in children:
        if child.proc in killed:
            say(f"  {child.spec.name} did not stop within {STOP_GRACE_S:.0f} s and was killed")
    say("all stopped")


def watch(children: Sequence[Child], stop: StopFlag) -> Child | None:
    """Sleep until a signal (returns None) or until a child exits (returns it)."""
    while not stop.is_set:
        for child in children:
            if child.proc.poll() is not None:
                return child
        time.sleep(WATCH_POLL_S)
    return None
