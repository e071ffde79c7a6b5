"""The long-running prober: one timer loop on asyncio, one fresh connection per probe, batched writes.

Every interval each active target gets a health probe and a predict probe (an openai-chat
target: a health probe and a streamed ``chat`` probe, and a key-enforcement ``auth`` check at its
first schedule and every ``probe_auth_every_s`` after). Targets are
spread across the interval by a stable phase (golden-ratio hash of the id, the predict
or chat probe half an interval after the health probe), so a thousand targets are never hit in
lockstep and every replica, restart and shard agrees on the schedule. The schedule is one
heap of next-due times on the monotonic clock and one timer for its head (not a
scheduler job per target and kind: 4,000 jobs at 2,000 targets). A probe never raises into
the loop: every failure is a recorded outcome.

Overload is visible, never charged: a probe that starts more than ``probe_late_bound_s`` after
its slot (or whose answer arrived while the loop was stalled that long) is marked with
``prober_late_ms``; storage and scoring leave it out of latency, uptime and 200-rate. The
lateness is exported (``clfwatch_prober_lateness_seconds``, ``clfwatch_prober_late_probes_total``),
logged at most once a minute (``event=prober_behind``), and carried by the heartbeat row for the
dashboard's banner.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import heapq
import logging
import math
import ssl
import sys
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from alerts.hub import AlertHub
from core.contract import (
    SCHEDULED_PROBE_KINDS,
    Outcome,
    ProbeKind,
    TargetKind,
    TemplateError,
    parse_template,
)
from core.llm_contract import warm_up
from core.settings import Settings
from probes.llm import check_key_enforcement, probe_chat, probe_llm_health
from probes.metrics import (
    count_late_probe,
    observe_chat,
    observe_late_window,
    observe_lateness,
    observe_probe,
)
from probes.probe import CANARY_SAMPLE, PreparedTarget, probe_target
from probes.shard import in_shard, owner_among, peer_stale_s
from probes.writer import ProbeWriter
from storage.evalset import EvalText, eval_texts
from storage.probes import ProbeRow, live_shard_ordinals
from storage.targets import ProbeTarget, probe_targets

log = logging.getLogger(__name__)
T = TypeVar("T")

GOLDEN_RATIO_FRACTION = 0.6180339887498949
PREDICT_PHASE_SHIFT = 0.5  # of an interval, after the health probe
RELOAD_EVERY_INTERVALS = 3
RELOAD_MAX_S = 30.0
SUMMARY_EVERY_S = 60.0
LATENESS_SAMPLES = 100_000
SHUTDOWN_GRACE_S = 1.0
GIL_SWITCH_INTERVAL_S = 0.0005
LAG_CHECK_EVERY_S = 0.25  # the timer wakes at least this often, to notice a stalled loop
BEHIND_LOG_EVERY_S = 60.0  # at most one "prober behind" line per minute
# The kinds probed every interval, by target kind (openai-chat targets also get AUTH_KIND checks),
# as plain strings: the heap compares them on every probe.
PROBE_KINDS: dict[str, tuple[str, ...]] = {
    kind: tuple(str(k) for k in kinds) for kind, kinds in SCHEDULED_PROBE_KINDS.items()
}
ANSWER_KINDS = frozenset({ProbeKind.PREDICT, ProbeKind.CHAT})  # half an interval after health
AUTH_KIND = str(ProbeKind.AUTH)
CHAT_KIND = str(ProbeKind.CHAT)


def target_phase(target_id: int) -> float:
    """A stable fraction in [0, 1) for a target: consecutive ids land far apart."""
    return (target_id * GOLDEN_RATIO_FRACTION) % 1.0


def probe_phase_s(target_id: int, kind: str, interval_s: float) -> float:
    """Seconds after each interval boundary (unix epoch aligned) at which a probe is due."""
    shift = PREDICT_PHASE_SHIFT if kind in ANSWER_KINDS else 0.0
    return ((target_phase(target_id) + shift) % 1.0) * interval_s


def slot_of(now_s: float, phase_s: float, interval_s: float) -> tuple[int, float]:
    """The index and unix time of the newest scheduled slot at or before ``now_s``."""
    k = math.floor((now_s - phase_s) / interval_s)
    return k, k * interval_s + phase_s


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the prober's event loop: uvloop when installed (less overhead per wakeup, so
    latencies are read sooner after the answer arrives), asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def pick_sample(samples: list[EvalText], target_id: int, slot: int) -> EvalText:
    """The evaluation sample for a target at a slot: cycles through all samples, per target."""
    if not samples:
        return CANARY_SAMPLE
    return samples[(slot + target_id) % len(samples)]


def kinds_of(target: ProbeTarget) -> tuple[str, ...]:
    """The kinds probed every interval for ``target`` (a kind we do not know: health alone)."""
    return PROBE_KINDS.get(target.kind, (str(ProbeKind.HEALTH),))


def prepare(target: ProbeTarget) -> PreparedTarget:
    if target.kind != TargetKind.CLASSIFIER:
        return PreparedTarget(target, None)  # no template: the contract is OpenAI's
    try:
        return PreparedTarget(target, parse_template(target.request_template))
    except TemplateError:
        log.error("event=bad_template target=%s", target.name)
        return PreparedTarget(target, None, template_ok=False)


@dataclass
class ProbeStats:
    """Counts since start, and since the last summary line."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    window: Counter[str] = field(default_factory=Counter)
    lateness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENESS_SAMPLES))
    late: int = 0  # probes marked as the prober's lateness (not graded)
    skipped: int = 0  # slots skipped: the prober was an interval behind, or the last probe still ran


class Prober:
    """Probes every active target (of its shard) on a schedule and writes the rows."""

    def __init__(
        self,
        settings: Settings,
        *,
        shard: tuple[int, int] = (0, 1),
        peer_ordinal: int | None = None,
        summary_every_s: float = SUMMARY_EVERY_S,
        reload_every_s: float | None = None,
        on_row: Any = None,
    ) -> None:
        self.settings = settings
        self.interval_s = settings.probe_interval_s
        self.shard = shard
        self.peer_ordinal = peer_ordinal  # --shard auto: split with the live peers, not K/N
        self.summary_every_s = summary_every_s
        self.reload_every_s = reload_every_s or min(RELOAD_EVERY_INTERVALS * self.interval_s, RELOAD_MAX_S)
        self.on_row = on_row  # optional callback(row), for benchmarks and tests
        self.stats = ProbeStats()
        self.writer = ProbeWriter(
            settings.database_url,
            buffer_rows=settings.probe_buffer_rows,
            spill_dir=settings.probe_spill_dir,
            interval_s=self.interval_s,
            shard_ordinal=peer_ordinal,
        )
        self.alerts = AlertHub(settings, self.writer.session)  # incidents and messages, off the probe path
        self._targets: dict[int, PreparedTarget] = {}
        self._samples: list[EvalText] = []
        self._semaphore = asyncio.Semaphore(settings.probe_concurrency)
        self._networks = settings.allowed_networks  # where self-registered targets may lead
        self._ssl_context: ssl.SSLContext | None = None
        self._open_done = False
        self.late_bound_s = settings.probe_late_bound_s
        self.auth_every_s = settings.probe_auth_every_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        # (due on the monotonic clock, target id, kind, slot index, generation of the target's entry)
        self._heap: list[tuple[float, int, str, int, int]] = []
        self._generation: dict[int, int] = {}
        self._busy: set[tuple[int, str]] = set()  # (target, kind) with a probe queued or in flight
        self._timer: asyncio.Handle | None = None
        self._timer_when = 0.0  # the timer's due time (uvloop's handles do not tell it)
        self._stalls: deque[tuple[float, float]] = deque()  # (from, until), monotonic clock
        self._window_lateness_s = 0.0  # worst start delay since the last heartbeat
        self._late_at: datetime | None = None  # the newest probe marked late
        self._behind_logged_at: float | None = None
        self._behind_unlogged = 0  # late probes since the last "prober behind" line
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reload_failing = False
        self._warned_no_samples = False
        self._llm_ready = False  # core.llm_contract warmed up
        self._stopping = False

    @property
    def session_id(self) -> str:
        return self.writer.session_id

    @property
    def shard_text(self) -> str:
        if self.peer_ordinal is not None:
            return f"auto:{self.peer_ordinal}"
        k, n = self.shard
        return f"{k}/{n}"

    # --- lifecycle ---------------------------------------------------------------------

    async def _open(self) -> None:
        # The writer thread holds the GIL while it builds inserts; with the default 5 ms
        # switch interval a response that arrives meanwhile waits up to 5 ms before its
        # latency is read. 0.5 ms keeps that error well under a millisecond.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        # A line per request or per job run is noise at a thousand targets; failures log here.
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        if self._ssl_context is None:  # loading the CA bundle blocks for 0.1-0.3 s: before probing
            self._ssl_context = await asyncio.to_thread(ssl.create_default_context)
        self.writer.start_session(datetime.now(UTC))
        await self.writer.replay_spilled()  # leftovers of an earlier run go in first
        await self.writer.flush()
        self._open_done = True
        await self.reload()

    async def run(self, stop: asyncio.Event) -> None:
        """Probe on schedule until ``stop`` is set, then flush (or spill) and return."""
        await self._open()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._running = True
        for target_id in list(self._targets):
            self._schedule(target_id)
        self._arm()
        periodic = [
            asyncio.create_task(self._every(self.reload_every_s, self.reload, stop)),
            asyncio.create_task(self._every(self.interval_s, self._beat, stop)),
            asyncio.create_task(self._every(self.summary_every_s, self._summary, stop)),
        ]
        writer_task = asyncio.create_task(self.writer.run(stop))
        log.info(
            "event=prober_started session=%s targets=%d interval_s=%s shard=%s late_after_s=%s",
            self.session_id[:8], len(self._targets), self.interval_s, self.shard_text, self.late_bound_s,
        )
        try:
            await stop.wait()
        finally:
            await self._shutdown(writer_task, periodic)

    async def _every(self, every_s: float, job: Any, stop: asyncio.Event) -> None:
        """Run ``job`` (sync or async) every ``every_s`` until ``stop``; a failure is logged, not raised."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            if stop.is_set():
                return
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # one failed reload or beat must not end the prober
                log.exception("event=periodic_job_failed job=%s", getattr(job, "__name__", "?"))

    async def run_once(self) -> None:
        """One round: every target gets one probe of each of its kinds (and its auth check); write; return."""
        await self._open()
        jobs = [
            self._probe(tid, kind)
            for tid, prepared in list(self._targets.items())
            for kind in (*kinds_of(prepared.target), *self._auth_kinds(prepared.target))
        ]
        await asyncio.gather(*jobs)
        self._summary()
        await self.alerts.close()
        await self.writer.close(datetime.now(UTC))

    async def _shutdown(self, writer_task: asyncio.Task[Any], periodic: list[asyncio.Task[Any]]) -> None:
        self._stopping = True  # nothing new starts from now on
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in periodic:
            task.cancel()
        await asyncio.gather(*periodic, return_exceptions=True)
        # Probes in flight finish (each is bounded by the timeout) and are written.
        deadline = time.monotonic() + self.settings.probe_timeout_s + SHUTDOWN_GRACE_S
        while pending := [t for t in self._tasks if not t.done()]:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                break
            await asyncio.wait(pending, timeout=left_s)
        # The writer's loop sees the stop event and ends after the flush under way; cancelling
        # it mid-write would leave a batch whose fate is unknown.
        with contextlib.suppress(asyncio.CancelledError):
            await writer_task
        await self.alerts.close()
        self._beat()
        await self.writer.close(datetime.now(UTC))
        self._summary()
        log.info("event=prober_stopped session=%s", self.session_id[:8])

    # --- targets -----------------------------------------------------------------------

    def _load(self) -> tuple[list[ProbeTarget], list[EvalText]]:
        with self.writer.session() as session:
            targets = probe_targets(session)
            if self.peer_ordinal is not None:
                me = self.peer_ordinal
                seen_since = datetime.now(UTC) - timedelta(seconds=peer_stale_s(self.interval_s))
                peers = live_shard_ordinals(session, seen_since=seen_since) | {me}
                targets = [t for t in targets if owner_among(t.id, peers) == me]
            else:
                targets = [t for t in targets if in_shard(t.id, self.shard)]
            return targets, eval_texts(session)

    async def reload(self) -> None:
        """Pick up new, changed and deactivated targets, and a reloaded evaluation set."""
        try:
            targets, samples = await asyncio.to_thread(self._load)
        except Exception as exc:  # keep probing the known targets through an outage
            if not self._reload_failing:
                log.warning(
                    "event=target_reload_failed error=%s keeping=%d", type(exc).__name__, len(self._targets)
                )
            self._reload_failing = True
            return
        self._reload_failing = False
        self._samples = samples
        if not samples and not self._warned_no_samples:
            log.warning("event=no_eval_set predict_probes=canary")
            self._warned_no_samples = True
        if not self._llm_ready and any(t.kind == TargetKind.OPENAI_CHAT for t in targets):
            # The openai types' validators cost ~0.8 s of CPU to build: before the first chat
            # probe, not inside one (it would delay every probe in flight and their times).
            await asyncio.to_thread(warm_up)
            self._llm_ready = True
        fresh = {t.id: t for t in targets}
        for tid in list(self._targets):
            if tid not in fresh:
                del self._targets[tid]
                self._unschedule(tid)
                log.info("event=target_dropped target_id=%d", tid)
        for tid, target in fresh.items():
            known = self._targets.get(tid)
            if known is None:
                self._targets[tid] = prepare(target)
                self._schedule(tid)
                log.info("event=target_added target=%s", target.name)
            elif _changed(known.target, target):
                self._targets[tid] = prepare(target)  # the next probe uses the new URL or token
                if known.target.kind != target.kind:
                    self._schedule(tid)  # other kinds of probes: a new schedule
                log.info("event=target_changed target=%s", target.name)

    def _auth_kinds(self, target: ProbeTarget) -> tuple[str, ...]:
        return (AUTH_KIND,) if target.kind == TargetKind.OPENAI_CHAT else ()

    def _schedule(self, target_id: int) -> None:
        """Put a target's probes on the heap at their next slots (its auth check within an interval)."""
        loop = self._loop
        prepared = self._targets.get(target_id)
        if loop is None or not self._running or prepared is None:
            return
        generation = self._generation.get(target_id, 0) + 1
        self._generation[target_id] = generation
        # Both clocks read back to back; the loop's own clock is not used: uvloop caches it per
        # iteration, so a due time computed from it could come a few ms before its wall slot.
        now_unix, now_loop = time.time(), time.monotonic()
        for kind in kinds_of(prepared.target):
            phase = probe_phase_s(target_id, kind, self.interval_s)
            k, last = slot_of(now_unix, phase, self.interval_s)
            due = now_loop + (last + self.interval_s - now_unix)  # the next slot, monotonic
            heapq.heappush(self._heap, (due, target_id, kind, k + 1, generation))
        for kind in self._auth_kinds(prepared.target):
            # First check soon after the target is first seen (spread over an interval, so a
            # restart does not send every target's check at once), then every auth_every_s.
            due = now_loop + target_phase(target_id) * self.interval_s
            heapq.heappush(self._heap, (due, target_id, kind, 0, generation))
        self._arm()

    def _unschedule(self, target_id: int) -> None:
        # Entries stay on the heap and are dropped when they come due (their generation is gone).
        self._generation.pop(target_id, None)

    # --- the timer loop ------------------------------------------------------------------

    def _arm(self) -> None:
        """One timer on the event loop, for the earliest due probe (or the next lag check)."""
        loop = self._loop
        if loop is None or not self._running:
            return
        now = time.monotonic()
        when = now + LAG_CHECK_EVERY_S
        if self._heap and self._heap[0][0] < when:
            when = self._heap[0][0]
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        self._timer = loop.call_later(max(0.0, when - now), self._fire)
        self._timer_when = when

    def _fire(self) -> None:
        """Start every probe that is due; a heap of next-due times replaces a job per probe.

        A timer that fires late means the loop was busy (or stalled) for that long: noted, so the
        probes in flight meanwhile are marked as the prober's lateness too.
        """
        loop = self._loop
        assert loop is not None
        timer = self._timer
        self._timer = None
        now = time.monotonic()
        if timer is not None:
            self._note_stall(now, now - self._timer_when)
        heap = self._heap
        interval = self.interval_s
        while heap and heap[0][0] <= now and not self._stopping:
            due, target_id, kind, slot, generation = heapq.heappop(heap)
            if self._generation.get(target_id) != generation:
                continue  # dropped (or re-added) since it was scheduled
            step = interval if kind != AUTH_KIND else self.auth_every_s
            next_due, next_slot = due + step, slot + 1
            if next_due <= now:  # more than an interval behind: skip the missed slots (coalesce)
                missed = math.floor((now - due) / step)
                next_due, next_slot = due + (missed + 1) * step, slot + missed + 1
                self.stats.skipped += missed
            heapq.heappush(heap, (next_due, target_id, kind, next_slot, generation))
            key = (target_id, kind)
            if key in self._busy:
                # Its previous probe has not even started or ended: an overloaded prober would
                # queue without bound. The slot is skipped (a gap, never a failure) and counted.
                self.stats.skipped += 1
                continue
            self._busy.add(key)
            task = loop.create_task(self._probe(target_id, kind, slot=slot, due=due))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(self._free, key))
        self._arm()

    def _free(self, key: tuple[int, str], _task: asyncio.Task[Any]) -> None:
        self._busy.discard(key)

    def _note_stall(self, now: float, lag_s: float) -> None:
        if lag_s > self.late_bound_s:
            self._stalls.append((now - lag_s, now))
        horizon = now - self.settings.probe_timeout_s - self.interval_s
        while self._stalls and self._stalls[0][1] < horizon:
            self._stalls.popleft()

    def _stalled_during(self, start: float, end: float) -> float:
        """The longest stall of the loop (seconds) overlapping ``[start, end]``; 0 when none."""
        return max((b - a for a, b in self._stalls if a < end and b > start), default=0.0)

    # --- probing -----------------------------------------------------------------------

    async def _probe(
        self, target_id: int, kind: str, *, slot: int | None = None, due: float | None = None
    ) -> None:
        """One probe; ``due`` is its slot, monotonic clock (None for ``--once``: never late)."""
        prepared = self._targets.get(target_id)
        if prepared is None or not self._open_done:
            return
        if kind == ProbeKind.PREDICT and not prepared.template_ok:
            return  # our registry holds a broken template: not the target's fault, not a probe
        if prepared.target.kind == TargetKind.OPENAI_CHAT:
            await self._probe_llm(prepared.target, kind, slot=slot, due=due)
            return
        try:
            async with self._semaphore:
                began = time.monotonic()
                late_s = 0.0
                if due is not None:
                    late_s = max(0.0, began - due)
                    self.stats.lateness_ms.append(late_s * 1000.0)
                    self._window_lateness_s = max(self._window_lateness_s, late_s)
                    observe_lateness(late_s)
                if slot is None:
                    slot = slot_of(time.time(), probe_phase_s(target_id, kind, self.interval_s),
                                   self.interval_s)[0]
                sample = pick_sample(self._samples, target_id, slot) if kind == ProbeKind.PREDICT else None
                row = await probe_target(
                    prepared,
                    kind,
                    sample=sample,
                    timeout_s=self.settings.probe_timeout_s,
                    cap_bytes=self.settings.probe_max_body_bytes,
                    networks=self._networks,
                    ssl_context=self._ssl_context,
                )
                if due is not None:
                    # Started late, or the loop stalled while the answer was on its way: the row
                    # measured us, not the target. Kept, marked, never graded.
                    late_s = max(late_s, self._stalled_during(began, time.monotonic()))
                    if late_s > self.late_bound_s:
                        row = dataclasses.replace(row, prober_late_ms=round(late_s * 1000.0, 3))
        except asyncio.CancelledError:
            return  # cancelled only at a forced shutdown
        self._record(prepared.target, row)

    async def _probe_llm(
        self, target: ProbeTarget, kind: str, *, slot: int | None, due: float | None
    ) -> None:
        """A probe of an openai-chat target: health, a streamed chat, or the key-enforcement check."""
        settings = self.settings
        common: dict[str, Any] = dict(
            timeout_s=settings.probe_timeout_s, cap_bytes=settings.probe_max_body_bytes,
            networks=self._networks, ssl_context=self._ssl_context,
        )
        try:
            async with self._semaphore:
                if kind == AUTH_KIND:  # not a measurement: no lateness, never graded
                    rows = await check_key_enforcement(target, **common)
                else:
                    began = time.monotonic()
                    late_s = self._start_lateness(began, due)
                    if slot is None:
                        slot = slot_of(time.time(), probe_phase_s(target.id, kind, self.interval_s),
                                       self.interval_s)[0]
                    if kind == CHAT_KIND:
                        row = await probe_chat(target, slot=slot, **common)
                    else:
                        row = await probe_llm_health(target, **common)
                    if due is not None:
                        late_s = max(late_s, self._stalled_during(began, time.monotonic()))
                        if late_s > self.late_bound_s:
                            row = dataclasses.replace(row, prober_late_ms=round(late_s * 1000.0, 3))
                    rows = [row]
        except asyncio.CancelledError:
            return  # cancelled only at a forced shutdown
        for row in rows:
            self._record(target, row)

    def _start_lateness(self, began: float, due: float | None) -> float:
        """Seconds a probe started after its slot, counted in the prober's lateness; 0 for --once."""
        if due is None:
            return 0.0
        late_s = max(0.0, began - due)
        self.stats.lateness_ms.append(late_s * 1000.0)
        self._window_lateness_s = max(self._window_lateness_s, late_s)
        observe_lateness(late_s)
        return late_s

    def _record(self, target: ProbeTarget, row: ProbeRow) -> None:
        self.writer.add(row)
        stats = self.stats
        if row.prober_late_ms is not None:
            stats.late += 1
            self._late_at = row.started_at
            count_late_probe()
            self._note_behind(row.prober_late_ms)
        elif row.kind != AUTH_KIND:  # a late probe measured us: it neither opens nor closes an incident
            self.alerts.observe(target.name, row)  # (an auth check is a finding, not downtime)
        stats.sent += 1
        stats.by_outcome[row.outcome] += 1
        stats.window["sent"] += 1
        if row.outcome == Outcome.OK:
            stats.ok += 1
            stats.window["ok"] += 1
        else:
            stats.failed += 1
            stats.window["failed"] += 1
            log.warning(
                'event=probe_failed target=%s kind=%s outcome=%s status=%s detail="%s"',
                target.name, row.kind, row.outcome, row.status_code, row.detail or "",
            )
        late = row.prober_late_ms is not None
        observe_probe(
            target=target.name, kind=row.kind, outcome=row.outcome,
            latency_ms=row.latency_ms, started_unix_s=row.started_at.timestamp(), late=late,
        )
        if row.kind == CHAT_KIND and row.outcome == Outcome.OK and not late:
            observe_chat(target=target.name, ttft_ms=row.ttft_ms, tokens_per_s=row.tokens_per_s)
        if self.on_row is not None:
            self.on_row(row)

    def _note_behind(self, late_ms: float) -> None:
        """Say that the prober is behind: the first late probe at once, then once a minute at most."""
        self._behind_unlogged += 1
        now = time.monotonic()
        if self._behind_logged_at is not None and now - self._behind_logged_at < BEHIND_LOG_EVERY_S:
            return
        lateness = sorted(self.stats.lateness_ms)
        p99 = lateness[int(0.99 * (len(lateness) - 1))] if lateness else 0.0
        log.warning(
            "event=prober_behind late_probes=%d lateness_ms=%.0f lateness_p99_ms=%.1f late_after_ms=%.0f "
            "targets=%d in_flight=%d graded=no",
            self._behind_unlogged, late_ms, p99, self.late_bound_s * 1000, len(self._targets),
            len(self._tasks),
        )
        self._behind_logged_at = now
        self._behind_unlogged = 0

    def _beat(self) -> None:
        """Heartbeat: alive now, with the worst lateness and the late probes since the last beat."""
        worst_s = self._window_lateness_s
        self._window_lateness_s = 0.0
        observe_late_window(worst_s)
        self.writer.beat(
            datetime.now(UTC), lateness_ms=round(worst_s * 1000.0, 3), late_probes=self.stats.late,
            late_at=self._late_at,
        )

    def _summary(self) -> None:
        window = self.stats.window
        lateness = sorted(self.stats.lateness_ms)
        p99 = lateness[int(0.99 * (len(lateness) - 1))] if lateness else 0.0
        log.info(
            "event=summary targets=%d sent=%d ok=%d failed=%d late=%d skipped=%d buffered=%d spilled=%d "
            "written=%d lateness_p99_ms=%.1f db=%s",
            len(self._targets), window["sent"], window["ok"], window["failed"], self.stats.late,
            self.stats.skipped, self.writer.buffered, self.writer.stats.spilled,
            self.writer.stats.written, p99,
            "down" if self.writer.in_outage else "up",
        )
        window.clear()


def _changed(old: ProbeTarget, new: ProbeTarget) -> bool:
    fields = (
        "name", "base_url", "predict_path", "health_path", "request_template", "probability_pointer", "token",
        "kind", "model",
    )
    return any(getattr(old, f) != getattr(new, f) for f in fields)


__all__ = ["Prober", "probe_phase_s", "slot_of", "target_phase"]
