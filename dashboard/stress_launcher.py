"""Stress runs started from the dashboard, each in its own process (Locust stays out of here)."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from core.processes import GroupProcess, start_group, stop_groups
from dashboard.db import DashboardError, clear_caches
from dashboard.stress_runs import LLM_SCENARIO_ORDER, SCENARIO_ORDER
from dashboard.targets import target_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StressLaunch:
    """A stress run started from the dashboard, in its own process (Locust stays out of here)."""

    target: str
    pid: int
    started_at: datetime


_LAUNCHED: dict[int, GroupProcess] = {}
_ENDED: dict[int, str] = {}  # pid -> finished or failed, once reaped
# ``clfwatch stress run`` exits 0 when every scenario passed and 1 when one failed: both finished.
STRESS_DONE_EXIT_CODES = (0, 1)
# What the launcher offers: both suites' names (a run takes the suite of the target's kind).
ALL_SCENARIOS: tuple[str, ...] = tuple(dict.fromkeys(SCENARIO_ORDER + LLM_SCENARIO_ORDER))


def start_stress_run(url: str, name: str, only: list[str] | None = None) -> StressLaunch:
    """Run ``clfwatch stress run NAME --format json`` in a subprocess; verdicts land in the database.

    ``only``: a subset of the ten scenarios (all when empty). The suite is the one for the
    target's kind (``clfwatch stress run`` decides): the LLM suite for an openai-chat target.
    """
    if name not in target_names(url):
        raise DashboardError("Unknown target.")
    unknown = [s for s in only or [] if s not in ALL_SCENARIOS]
    if unknown:
        raise DashboardError("Unknown scenario.")
    env = {k: v for k, v in os.environ.items() if k != "CLFWATCH_ADMIN_PASSWORD"}
    env["CLFWATCH_DATABASE_URL"] = url
    command = [sys.executable, "-m", "clfwatch.cli", "stress", "run", name, "--format", "json"]
    if only:
        command += ["--only", ",".join(only)]
    proc = start_group(command, name="stress", env=env)
    _LAUNCHED[proc.pid] = proc
    log.info("event=stress_started target=%s pid=%d only=%s", name, proc.pid, ",".join(only or []) or "all")
    clear_caches()
    return StressLaunch(target=name, pid=proc.pid, started_at=datetime.now(UTC))


def stress_launch_state(pid: int) -> str:
    """running, finished (every verdict stored, passed or not), failed, or unknown (not ours)."""
    if pid in _ENDED:
        return _ENDED[pid]
    proc = _LAUNCHED.get(pid)
    if proc is None:
        return "unknown"
    code = proc.poll()
    if code is None:
        return "running"
    _LAUNCHED.pop(pid, None)
    state = "finished" if code in STRESS_DONE_EXIT_CODES else "failed"
    if state == "failed":
        log.warning("event=stress_process_failed pid=%d exit=%d", pid, code)
    _ENDED[pid] = state
    clear_caches()
    return state


def stop_stress_launches() -> None:
    """Stop every stress process this dashboard process started, Locust children included."""
    stop_groups(list(_LAUNCHED.values()), grace_s=10)
    _LAUNCHED.clear()
