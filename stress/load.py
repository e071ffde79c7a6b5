"""The three load scenarios: spike, recovery, slow clients. Locust does the load, elsewhere.

Locust runs in a subprocess (``python -m stress.locust_job``), never imported here: importing it
would monkey-patch this process with gevent. With ``workers`` > 0 it runs Locust's distributed
mode on loopback (one master, N workers) for more load than one core gives. Every subprocess is
in its own process group, bounded by its run time plus a grace period, and killed in ``finally``
(Ctrl-C included), so no load outlives a run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from core.contract import ProbeKind, ScenarioName
from core.processes import GroupProcess, start_group, stop_groups
from stress.cases import SAMPLE_TEXTS
from stress.client import connect_error_kind
from stress.context import StressContext
from stress.evidence import (
    Answer,
    Failure,
    ScenarioResult,
    SentRequest,
    describe_error,
    describe_unanswered,
    outcome_counts,
    percentiles_ms,
)
from stress.target import TargetSpec

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 5.0
SLOW_CONNECT_BUDGET_S = 10.0  # opening the slow sockets may take at most this long in total
SLOW_CONNECT_TIMEOUT_S = 1.0
RECOVERY_POLL_PAUSE_S = 0.2
RECOVERY_READY_PAUSE_S = 0.5  # between tries while waiting for the target to be healthy
RECOVERY_READY_MAX_REQUESTS = 1_000  # a count bound beside the time bound of that wait


@dataclass
class LoadStats:
    """What one Locust run measured (or why it could not run)."""

    ok: bool
    requests: int = 0
    status_counts: Counter[str] = field(default_factory=Counter)
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    rps: float = 0.0  # answers per second (refusals are not throughput)
    duration_s: float = 0.0
    users: int = 0
    workers: int = 0
    first_failure: dict[str, Any] | None = None  # first request that was not a valid 200
    first_slow: dict[str, Any] | None = None  # first valid 200 slower than the latency bar
    error: str | None = None
    ttft_ms: dict[str, float | None] | None = None  # llm_stream users: time to first token

    @property
    def rate200(self) -> float:
        """Valid 200s over every request sent: a refused or unanswered request is not a valid 200."""
        total = sum(self.status_counts.values())
        return self.status_counts.get("200", 0) / total if total else 0.0

    @property
    def outcomes(self) -> dict[str, int]:
        return outcome_counts(self.status_counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            **self.outcomes,
            "status_counts": dict(sorted(self.status_counts.items())),
            "latency_ms": self.latency_ms,  # over answered requests only
            "rps": self.rps,  # answers per second
            "duration_s": self.duration_s,
            "users": self.users,
            "workers": self.workers,
            "rate200": round(self.rate200, 4),
            **({"ttft_ms": self.ttft_ms} if self.ttft_ms is not None else {}),
        }


def _bodies(spec: TargetSpec) -> list[tuple[str, str | None]]:
    check_id = spec.uses_contract_body
    return [
        (spec.body(text, f"load-{i}").decode("utf-8"), f"load-{i}" if check_id else None)
        for i, text in enumerate(SAMPLE_TEXTS)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_locust(
    spec: TargetSpec,
    *,
    users: int,
    spawn_rate: float,
    run_time_s: float,
    wait_min_s: float,
    wait_max_s: float,
    timeout_s: float,
    max_requests: int,
    workers: int = 0,
    grace_s: float = 30.0,
    close_connections: bool = False,
    unanswered_after_s: float | None = None,
    latency_bar_ms: float = 500.0,
    user: str = "classifier",
    bodies: list[tuple[str, str | None]] | None = None,
) -> LoadStats:
    """Run Locust against ``spec``'s predict path in subprocesses and return what it measured.

    ``user`` is the locust_job user class (``classifier``, or ``llm_stream`` with ``bodies`` of
    streamed chat requests, whose ``latency_bar_ms`` is the time-to-first-token bar).
    """
    headers = {"Content-Type": "application/json", **spec.auth_headers()}
    if close_connections:
        headers["Connection"] = "close"
    config = {
        "user": user,
        "host": spec.base_url,
        "predict_path": spec.predict_path,
        "bodies": bodies if bodies is not None else _bodies(spec),
        "headers": headers,
        "probability_pointer": spec.probability_pointer,
        "templated": not spec.uses_contract_body,
        "users": users,
        "spawn_rate": spawn_rate,
        "run_time_s": run_time_s,
        "wait_min_s": wait_min_s,
        "wait_max_s": wait_max_s,
        "timeout_s": timeout_s,
        "unanswered_after_s": unanswered_after_s if unanswered_after_s is not None else timeout_s,
        "latency_bar_ms": latency_bar_ms,
        "workers": workers,
        "master_port": _free_port() if workers else 0,
        "max_requests": math.ceil(max_requests / max(1, workers)),
    }
    with tempfile.TemporaryDirectory(prefix="clfwatch-locust-") as tmp:
        config_path = Path(tmp) / "config.json"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # may hold a token
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config, f)
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "locust.log"
        base = [sys.executable, "-m", "stress.locust_job", "--config", str(config_path)]
        procs: list[GroupProcess] = []
        with open(log_path, "wb") as log_file:
            try:
                role = "master" if workers else "local"
                procs.append(_spawn([*base, "--role", role, "--result", str(result_path)], log_file))
                for _ in range(workers):
                    procs.append(_spawn([*base, "--role", "worker"], log_file))
                try:
                    procs[0].wait(timeout=run_time_s + grace_s)
                except subprocess.TimeoutExpired:
                    return LoadStats(
                        ok=False, error=f"Locust did not finish within {run_time_s + grace_s:g} s"
                    )
            finally:
                stop_groups(procs, grace_s=STOP_GRACE_S)
        if not result_path.exists():
            lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
            last = lines[-1][:200] if lines else ""  # the error's own line, never the traceback
            log.warning("event=locust_failed rc=%s last_line=%r", procs[0].returncode, last)
            return LoadStats(ok=False, error=f"Locust exited with code {procs[0].returncode} and no result")
        data = json.loads(result_path.read_text())
    if not data.get("ok"):
        return LoadStats(ok=False, error=str(data.get("error", "Locust run failed")))
    return LoadStats(
        ok=True,
        requests=data["requests"],
        status_counts=Counter(data["status_counts"]),
        latency_ms=data["latency_ms"],
        rps=data["rps"],
        duration_s=data["duration_s"],
        users=data["users"],
        workers=data["workers"],
        first_failure=data["first_failure"],
        first_slow=data.get("first_slow"),
        ttft_ms=data.get("ttft_ms"),
    )


def _spawn(cmd: list[str], log_file: IO[bytes]) -> GroupProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    # own group: a Ctrl-C in the terminal reaches us, and we stop the group ourselves
    return start_group(cmd, name="locust", env=env, cwd=REPO_ROOT, output=log_file)


def locust_failure(spec: TargetSpec, stats: LoadStats) -> Failure | None:
    """The first invalid answer, else (a latency failure) the first answer slower than the bar."""
    first = stats.first_failure or stats.first_slow
    if not first:
        return None
    headers = [("Content-Type", "application/json"), *spec.auth_headers().items()]
    request = SentRequest(
        "POST",
        spec.url(spec.predict_path),
        headers,
        body=first["body_sent"].encode(),
        label=f"load request at {first.get('at_s', 0):.1f} s",
        auth_placeholder=spec.auth_placeholder,
    )
    answer = Answer(
        first.get("status"),
        first.get("latency_ms"),
        (first.get("response") or "").encode(),
        error=None if first.get("status") else "no answer",
    )
    return Failure(first["reason"], request, answer)


def _load_verdict(stats: LoadStats, ctx: StressContext, what: str) -> tuple[bool, str]:
    bars = ctx.bars
    if not stats.ok:
        return False, f"{what}: the load could not run ({stats.error})"
    total = sum(stats.status_counts.values())
    outcomes = stats.outcomes
    unanswered = describe_unanswered(outcomes)
    if total == 0:
        return False, f"{what}: not one request was sent"
    if outcomes["answered"] == 0:
        return False, f"{what}: not one of {total} requests was answered ({unanswered})"
    p95 = stats.latency_ms.get("p95")
    bar_ms = bars.latency_bar_s * 1000
    problems = []
    if stats.rate200 < bars.min_rate200:
        problems.append(f"valid 200s {stats.rate200:.1%} < {bars.min_rate200:.0%}")
    if p95 is None or p95 > bar_ms:
        problems.append(f"p95 {p95:g} ms > {bar_ms:g} ms" if p95 is not None else "no latency measured")
    if unanswered and problems:
        problems.append(f"of {total} requests {unanswered}")
    if problems:
        return False, f"{what}: " + "; ".join(problems)
    return True, (
        f"{what}: valid 200s {stats.rate200:.1%} (bar {bars.min_rate200:.0%}), "
        f"p95 {p95:g} ms (bar {bar_ms:g} ms), {stats.rps:g} req/s"
    )


def run_spike(ctx: StressContext) -> ScenarioResult:
    """A sudden burst of users; the 200-rate and p95 must stay within the bars."""
    bars = ctx.bars
    started = time.monotonic()
    stats = run_locust(
        ctx.spec,
        users=bars.spike_users,
        spawn_rate=bars.spike_spawn_rate,
        run_time_s=bars.spike_duration_s,
        wait_min_s=0.0,
        wait_max_s=bars.spike_wait_max_s,
        timeout_s=bars.request_timeout_s,
        max_requests=bars.spike_max_requests,
        workers=ctx.workers,
        grace_s=bars.load_grace_s,
        unanswered_after_s=bars.latency_bar_s,
        latency_bar_ms=bars.latency_bar_s * 1000,
    )
    passed, summary = _load_verdict(stats, ctx, f"{bars.spike_users} users")
    return ScenarioResult(
        scenario=ScenarioName.SPIKE,
        passed=passed,
        summary=summary,
        status_counts=stats.status_counts,
        percentiles=stats.latency_ms or percentiles_ms([]),
        requests=stats.requests,
        failure=None if passed else locust_failure(ctx.spec, stats),
        duration_s=time.monotonic() - started,
        bars={
            "latency_bar_s": bars.latency_bar_s,
            "min_rate200": bars.min_rate200,
            "users": bars.spike_users,
            "spawn_rate": bars.spike_spawn_rate,
            "duration_s": bars.spike_duration_s,
        },
        extra={"rps": stats.rps, "workers": ctx.workers, "load_error": stats.error},
    )


def _timed_request(
    client: httpx.Client, spec: TargetSpec, kind: str, index: int, timeout_s: float
) -> tuple[SentRequest, Answer, str | None]:
    """One sequential health or predict request; returns it, the answer and what is wrong with it."""
    headers = list(spec.auth_headers().items())
    if kind == ProbeKind.HEALTH:
        request = SentRequest("GET", spec.url(spec.health_path), headers, label="health")
    else:
        sent_id = f"calm-{index}"
        request = SentRequest(
            "POST",
            spec.url(spec.predict_path),
            [("Content-Type", "application/json"), *headers],
            body=spec.body(SAMPLE_TEXTS[index % len(SAMPLE_TEXTS)], sent_id),
            label="predict",
        )
    started = time.perf_counter()
    try:
        response = client.request(
            request.method, request.url, headers=request.headers, content=request.body, timeout=timeout_s
        )
    except httpx.TimeoutException:
        return request, Answer(None, None, error="timeout"), f"{kind}: no answer within {timeout_s:g} s"
    except httpx.ConnectError as exc:
        error = connect_error_kind(exc)
        return request, Answer(None, None, error=error), f"{kind}: no answer ({describe_error(error)})"
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        return request, Answer(None, None, error="closed"), f"{kind}: no answer ({describe_error('closed')})"
    except httpx.HTTPError as exc:
        return (
            request,
            Answer(None, None, error=type(exc).__name__),
            f"{kind}: no answer ({type(exc).__name__})",
        )
    answer = Answer(
        response.status_code,
        round((time.perf_counter() - started) * 1000, 1),
        response.content,
        response.headers.get("content-type", ""),
    )
    if kind == ProbeKind.HEALTH:
        verdict = spec.health_verdict(response.status_code, response.content)
    else:
        verdict = spec.predict_verdict(response.status_code, response.content, f"calm-{index}")
    return request, answer, None if verdict.ok else f"{kind}: {verdict.detail}"


def _wait_until_normal(
    client: httpx.Client, ctx: StressContext, counts: Counter[str]
) -> tuple[list[float], float] | Failure:
    """Before the burst: a healthy health check, then the calm predict latencies (ms).

    A target still warming up (a 503, a refused connection) gets up to ``recovery_ready_wait_s``:
    any problem starts over from the health check after a short pause. Returns the calm
    latencies and when the target was ready (s), or the last problem once the wait is spent.
    """
    bars = ctx.bars
    started = time.monotonic()
    deadline = started + bars.recovery_ready_wait_s
    calm: list[float] = []
    need_health = True
    ready_at = started
    for index in range(RECOVERY_READY_MAX_REQUESTS):
        if len(calm) >= bars.recovery_calm_requests:
            return calm, round(ready_at - started, 2)
        kind = ProbeKind.HEALTH if need_health else ProbeKind.PREDICT
        request, answer, problem = _timed_request(client, ctx.spec, kind, index, bars.request_timeout_s)
        counts[answer.status_key] += 1
        if problem is None:
            if need_health:
                need_health, ready_at = False, time.monotonic()
            else:
                calm.append(answer.latency_ms or 0.0)
            continue
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            return Failure(problem, request, answer)
        calm.clear()
        need_health = True
        time.sleep(min(RECOVERY_READY_PAUSE_S, remaining_s))
    if len(calm) >= bars.recovery_calm_requests:
        return calm, round(ready_at - started, 2)
    return Failure(f"no steady answers in {RECOVERY_READY_MAX_REQUESTS} requests", request, answer)


def run_recovery(ctx: StressContext) -> ScenarioResult:
    """Calm latency, a burst, then health and latency must be normal again within the window."""
    bars = ctx.bars
    spec = ctx.spec
    started = time.monotonic()
    counts: Counter[str] = Counter()
    after_latencies: list[float] = []
    bar_ms = bars.latency_bar_s * 1000
    recovery_bars: dict[str, Any] = {
        "recovery_window_s": bars.recovery_window_s,
        "latency_bar_s": bars.latency_bar_s,
        "recovery_latency_factor": bars.recovery_latency_factor,
        "recovery_consecutive_ok": bars.recovery_consecutive_ok,
        "burst_users": bars.recovery_burst_users,
        "burst_s": bars.recovery_burst_s,
        "recovery_ready_wait_s": bars.recovery_ready_wait_s,
    }
    with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
        ready = _wait_until_normal(client, ctx, counts)
        if isinstance(ready, Failure):
            waited_s = time.monotonic() - started
            return ScenarioResult(
                ScenarioName.RECOVERY,
                False,
                f"not healthy before the burst: {ready.reason} (still after waiting {waited_s:.1f} s, "
                f"up to {bars.recovery_ready_wait_s:g} s)",
                counts,
                failure=ready,
                duration_s=waited_s,
                bars=recovery_bars,
                extra={"ready_after_s": None},
            )
        calm, ready_after_s = ready
        calm_p50 = percentiles_ms(calm)["p50"] or 0.0
        threshold_ms = min(
            bar_ms, max(bars.recovery_latency_factor * calm_p50, bars.recovery_latency_floor_ms)
        )
        burst = run_locust(
            spec,
            users=bars.recovery_burst_users,
            spawn_rate=float(bars.recovery_burst_users),
            run_time_s=bars.recovery_burst_s,
            wait_min_s=0.0,
            wait_max_s=0.0,
            timeout_s=bars.request_timeout_s,
            max_requests=bars.spike_max_requests,
            workers=ctx.workers,
            grace_s=bars.load_grace_s,
        )
        burst_end = time.monotonic()
        ok_in_row = 0
        recovered_at: float | None = None
        failure: Failure | None = None
        index = 0
        while time.monotonic() - burst_end < bars.recovery_window_s:
            normal = True
            for kind in (ProbeKind.HEALTH, ProbeKind.PREDICT):
                request, answer, problem = _timed_request(client, spec, kind, index, bars.request_timeout_s)
                index += 1
                counts[answer.status_key] += 1
                if kind == ProbeKind.PREDICT and answer.latency_ms is not None:
                    after_latencies.append(answer.latency_ms)
                if problem is None and kind == ProbeKind.PREDICT and (answer.latency_ms or 0) > threshold_ms:
                    problem = f"predict took {answer.latency_ms:g} ms > normal {threshold_ms:g} ms"
                if problem:
                    normal = False
                    failure = Failure(problem, request, answer)
            ok_in_row = ok_in_row + 1 if normal else 0
            if ok_in_row >= bars.recovery_consecutive_ok:
                recovered_at = time.monotonic()
                break
            time.sleep(RECOVERY_POLL_PAUSE_S)
    extra = {
        "ready_after_s": ready_after_s,
        "calm_p50_ms": calm_p50,
        "normal_threshold_ms": threshold_ms,
        "burst": burst.to_dict(),
        "burst_error": burst.error,
        "time_to_recover_s": round(recovered_at - burst_end, 2) if recovered_at else None,
    }
    if not burst.ok:
        passed, summary = False, f"the burst could not run ({burst.error})"
    elif recovered_at is not None:
        passed = True
        summary = (
            f"back to normal {recovered_at - burst_end:.1f} s after a burst of {bars.recovery_burst_users} "
            f"users (window {bars.recovery_window_s:g} s, normal <= {threshold_ms:g} ms)"
        )
        failure = None
    else:
        passed = False
        summary = f"not back to normal within {bars.recovery_window_s:g} s after the burst" + (
            f"; last: {failure.reason}" if failure else ""
        )
    return ScenarioResult(
        ScenarioName.RECOVERY,
        passed,
        summary,
        counts,
        latencies_ms=after_latencies,
        failure=failure,
        duration_s=time.monotonic() - started,
        extra=extra,
        bars=recovery_bars,
    )


class SlowClients:
    """Hold slow (slowloris: headers trickled) and idle sockets open, bounded in number and time."""

    def __init__(self, spec: TargetSpec, count: int, hold_s: float, trickle_interval_s: float) -> None:
        self.spec = spec
        self.count = count
        self.hold_s = hold_s
        self.trickle_interval_s = trickle_interval_s
        self.sockets: list[tuple[socket.socket, bool]] = []  # (socket, trickles)
        self.refused = 0
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        deadline = time.monotonic() + SLOW_CONNECT_BUDGET_S
        head = (
            f"POST {self.spec.raw_path(self.spec.predict_path)} HTTP/1.1\r\nHost: {self.spec.host_header}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()
        for i in range(self.count):
            if time.monotonic() > deadline:
                self.refused += self.count - i
                break
            try:
                sock = socket.create_connection(
                    (self.spec.host, self.spec.port), timeout=SLOW_CONNECT_TIMEOUT_S
                )
                if self.spec.is_https:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                    sock = context.wrap_socket(sock, server_hostname=self.spec.host)
                trickles = i % 2 == 0  # half slowloris, half connected and silent
                if trickles:
                    sock.sendall(head)
                sock.setblocking(False)
                self.sockets.append((sock, trickles))
            except OSError:
                self.refused += 1
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        end = time.monotonic() + self.hold_s
        line = 0
        while not self._stop.wait(self.trickle_interval_s) and time.monotonic() < end:
            line += 1
            alive: list[tuple[socket.socket, bool]] = []
            for sock, trickles in self.sockets:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:  # the server answered (408, 400) or closed: it dropped this client
                    self.closed_by_server += 1
                    sock.close()
                    continue
                if trickles:
                    try:
                        sock.send(f"X-Slow-{line}: {line}\r\n".encode())
                    except BlockingIOError:
                        pass  # send buffer full: the server is not reading, still held open
                    except OSError:
                        self.closed_by_server += 1
                        sock.close()
                        continue
                alive.append((sock, trickles))
            self.sockets = alive

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock, _ in self.sockets:
            sock.close()

    @property
    def still_open(self) -> int:
        return len(self.sockets)


def run_slow_clients(ctx: StressContext) -> ScenarioResult:
    """Slow and idle connections held open while a probe client's requests must still be served."""
    bars = ctx.bars
    started = time.monotonic()
    slow = SlowClients(ctx.spec, bars.slow_clients, bars.slow_hold_s, bars.slow_trickle_interval_s)
    try:
        slow.open()
        opened = len(slow.sockets)
        remaining_s = max(1.0, bars.slow_hold_s - (time.monotonic() - started))
        stats = run_locust(
            ctx.spec,
            users=bars.slow_probe_users,
            spawn_rate=float(bars.slow_probe_users),
            run_time_s=remaining_s,
            wait_min_s=bars.slow_probe_wait_s,
            wait_max_s=bars.slow_probe_wait_s,
            timeout_s=bars.request_timeout_s,
            max_requests=bars.spike_max_requests,
            workers=0,
            grace_s=bars.load_grace_s,
            close_connections=True,
            unanswered_after_s=bars.latency_bar_s,
            latency_bar_ms=bars.latency_bar_s * 1000,
        )
        still_open = slow.still_open
    finally:
        slow.close()
    passed, summary = _load_verdict(stats, ctx, f"normal requests with {opened} slow/idle connections open")
    return ScenarioResult(
        scenario=ScenarioName.SLOW_CLIENTS,
        passed=passed,
        summary=summary,
        status_counts=stats.status_counts,
        percentiles=stats.latency_ms or percentiles_ms([]),
        requests=stats.requests,
        failure=None if passed else locust_failure(ctx.spec, stats),
        duration_s=time.monotonic() - started,
        bars={
            "latency_bar_s": bars.latency_bar_s,
            "min_rate200": bars.min_rate200,
            "slow_clients": bars.slow_clients,
            "hold_s": bars.slow_hold_s,
        },
        extra={
            "slow_opened": opened,
            "slow_refused": slow.refused,
            "slow_closed_by_server": slow.closed_by_server,
            "slow_still_open_at_end": still_open,
            "rps": stats.rps,
            "load_error": stats.error,
        },
    )
