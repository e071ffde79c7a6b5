"""Deciding when a target is down and when it is back, from probe results alone: no I/O.

Like Gatus' failure and success thresholds: an incident of one kind (health or predict) opens
after ``failure_threshold`` consecutive failed probes of that kind and resolves after
``success_threshold`` consecutive ok ones. Results further apart than ``gap_s`` are not
consecutive: the prober was down or late in between (a gap), and a gap never opens or closes
an incident; the streak starts over. Messages are per target: "down" when its first incident
opens, "resolved" when its last one closes, so a stopped target that fails both kinds gets one
message each way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

OPENED = "opened"
RESOLVED = "resolved"
NOTIFY_DOWN = "down"
NOTIFY_RESOLVED = "resolved"
NOTIFY_REPEAT = "repeat"
GAP_INTERVALS = 2.5  # results further apart than this many intervals are not consecutive


@dataclass(frozen=True)
class ProbeResult:
    """One probe's verdict as the tracker needs it."""

    target_id: int
    kind: str  # "health" or "predict"
    ok: bool
    outcome: str  # ok, timeout, connect_error, ...
    reason: str  # a short phrase for a person; never a body, a token, a label or a sample text
    at: datetime  # when the probe started, aware UTC


@dataclass(frozen=True)
class IncidentChange:
    """An incident of one target and kind opened or resolved: to be stored."""

    change: str  # OPENED or RESOLVED
    target_id: int
    kind: str
    started_at: datetime
    outcome: str
    reason: str
    failed_probes: int
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Notice:
    """A message to send about a target: it went down, is still down, or is back."""

    event: str  # NOTIFY_DOWN, NOTIFY_REPEAT or NOTIFY_RESOLVED
    target_id: int
    kinds: tuple[str, ...]  # the kinds failing (down, repeat) or that were failing (resolved)
    started_at: datetime  # the earliest open incident's start
    outcome: str
    reason: str
    failed_probes: int
    at: datetime  # when this was decided: the probe that crossed the threshold
    resolved_at: datetime | None = None

    @property
    def duration_s(self) -> float:
        """Seconds from the start to the resolution (or to ``at`` while still down)."""
        return ((self.resolved_at or self.at) - self.started_at).total_seconds()


@dataclass
class _Streak:
    """One target and kind: the current run of equal verdicts and the open incident, if any."""

    failures: int = 0
    successes: int = 0
    first_failure: ProbeResult | None = None
    first_success_at: datetime | None = None
    last_at: datetime | None = None
    open: IncidentChange | None = None  # the OPENED change of the open incident
    failed_while_open: int = 0
    closed: IncidentChange | None = None  # resolved while another kind of the target is still down


@dataclass
class _TargetState:
    notified_down_at: datetime | None = None  # last down or repeat message
    streaks: dict[str, _Streak] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What one result changed: incidents to store and messages to send (often neither)."""

    changes: tuple[IncidentChange, ...] = ()
    notices: tuple[Notice, ...] = ()


NOTHING = Decision()


class IncidentTracker:
    """Turns a stream of probe results into incident changes and notices."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        success_threshold: int,
        gap_s: float,
        repeat_s: float | None = None,
    ) -> None:
        if failure_threshold < 1 or success_threshold < 1:
            raise ValueError("thresholds must be at least 1")
        self.failure_threshold = failure_threshold
        self.success_threshold = success_threshold
        self.gap = timedelta(seconds=gap_s)
        self.repeat = timedelta(seconds=repeat_s) if repeat_s else None
        self._targets: dict[int, _TargetState] = {}

    def restore(
        self, *, target_id: int, kind: str, started_at: datetime, outcome: str, reason: str,
        failed_probes: int, notified_at: datetime | None = None,
    ) -> None:
        """Carry on an incident left open by an earlier run (no message: it was sent then)."""
        state = self._targets.setdefault(target_id, _TargetState())
        streak = state.streaks.setdefault(kind, _Streak())
        streak.open = IncidentChange(OPENED, target_id, kind, started_at, outcome, reason, failed_probes)
        streak.failed_while_open = failed_probes
        state.notified_down_at = notified_at or started_at

    def is_down(self, target_id: int) -> bool:
        state = self._targets.get(target_id)
        return state is not None and any(s.open is not None for s in state.streaks.values())

    def forget(self, target_id: int) -> None:
        """A target was removed: drop its state (its incidents went with it)."""
        self._targets.pop(target_id, None)

    def observe(self, result: ProbeResult) -> Decision:
        """Feed one probe result; what it changed."""
        state = self._targets.setdefault(result.target_id, _TargetState())
        streak = state.streaks.setdefault(result.kind, _Streak())
        if streak.last_at is not None and result.at - streak.last_at > self.gap:
            # A gap: what came before is not consecutive with this. Incidents stay as they are.
            streak.failures = streak.successes = 0
            streak.first_failure = None
            streak.first_success_at = None
        if streak.last_at is None or result.at > streak.last_at:
            streak.last_at = result.at
        was_down = self.is_down(result.target_id)
        change = self._step(streak, result)
        if change is None:
            return self._maybe_repeat(state, result) if was_down else NOTHING
        is_down = self.is_down(result.target_id)
        notices: tuple[Notice, ...] = ()
        if change.change == OPENED and not was_down:
            state.notified_down_at = result.at
            notices = (self._notice(NOTIFY_DOWN, state, result, kinds=(change.kind,), first=change),)
        elif change.change == OPENED:
            pass  # another kind of an already-down target: stored, no second message
        elif not is_down:
            state.notified_down_at = None
            closed = [s.closed for s in state.streaks.values() if s.closed is not None]
            first = min(closed, key=lambda c: c.started_at)
            notices = (
                Notice(
                    NOTIFY_RESOLVED, result.target_id, tuple(sorted({c.kind for c in closed})),
                    first.started_at, first.outcome, first.reason, sum(c.failed_probes for c in closed),
                    result.at, resolved_at=max(c.resolved_at or result.at for c in closed),
                ),
            )
            for s in state.streaks.values():
                s.closed = None
        return Decision(changes=(change,), notices=notices)

    # --- internals ----------------------------------------------------------------------

    def _step(self, streak: _Streak, result: ProbeResult) -> IncidentChange | None:
        if not result.ok:
            streak.successes = 0
            streak.first_success_at = None
            streak.failures += 1
            if streak.first_failure is None:
                streak.first_failure = result
            if streak.open is not None:
                streak.failed_while_open += 1
                return None
            if streak.failures >= self.failure_threshold:
                first = streak.first_failure
                streak.open = IncidentChange(
                    OPENED, result.target_id, result.kind, first.at, first.outcome, first.reason,
                    streak.failures,
                )
                streak.failed_while_open = streak.failures
                return streak.open
            return None
        streak.failures = 0
        streak.first_failure = None
        streak.successes += 1
        if streak.first_success_at is None:
            streak.first_success_at = result.at
        if streak.open is not None and streak.successes >= self.success_threshold:
            opened = streak.open
            streak.open = None
            resolved = IncidentChange(
                RESOLVED, opened.target_id, opened.kind, opened.started_at, opened.outcome, opened.reason,
                streak.failed_while_open, resolved_at=streak.first_success_at,
            )
            streak.closed = resolved
            return resolved
        return None

    def _maybe_repeat(self, state: _TargetState, result: ProbeResult) -> Decision:
        if self.repeat is None or state.notified_down_at is None:
            return NOTHING
        if result.at - state.notified_down_at < self.repeat:
            return NOTHING
        state.notified_down_at = result.at
        opens = [s.open for s in state.streaks.values() if s.open is not None]
        first = min(opens, key=lambda c: c.started_at)
        return Decision(notices=(self._notice(NOTIFY_REPEAT, state, result, kinds=None, first=first),))

    def _notice(
        self, event: str, state: _TargetState, result: ProbeResult, *, kinds: tuple[str, ...] | None,
        first: IncidentChange,
    ) -> Notice:
        open_kinds = tuple(sorted(k for k, s in state.streaks.items() if s.open is not None))
        failed = sum(s.failed_while_open for s in state.streaks.values() if s.open is not None)
        return Notice(
            event, result.target_id, kinds or open_kinds, first.started_at, first.outcome, first.reason,
            failed, result.at,
        )
