"""The prober's own Prometheus metrics (names fixed in the interfaces brief).

Module-level so that several probers in one process (tests) share one registry entry.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

METRICS_BIND_ADDR = "127.0.0.1"
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Time to first token of a streamed chat probe: from a cached small model's tens of ms to a cold
# start's seconds.
TTFT_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

PROBES_TOTAL = Counter(
    "clfwatch_probes_total",
    "Probes sent, by target, kind and outcome; not those marked as the prober's lateness.",
    ["target", "kind", "outcome"],
)
PROBE_LATENCY = Histogram(
    "clfwatch_probe_latency_seconds",
    "Latency of answered probes (request alone, monotonic clock); not the prober's late ones.",
    ["target", "kind"],
    buckets=LATENCY_BUCKETS_S,
)
PROBE_LAST_TIMESTAMP = Gauge(
    "clfwatch_probe_last_timestamp_seconds",
    "Unix time of the newest probe sent, by target and kind.",
    ["target", "kind"],
)

# openai-chat targets' chat probes, ok ones only (a failed stream's partial numbers would mislead).
CHAT_TTFT = Histogram(
    "clfwatch_probe_ttft_seconds",
    "Time to first token of ok streamed chat probes (connect start to first content chunk).",
    ["target"],
    buckets=TTFT_BUCKETS_S,
)
CHAT_TOKENS_PER_S = Gauge(
    "clfwatch_probe_tokens_per_second",
    "Output tokens per second of the newest ok streamed chat probe, by target.",
    ["target"],
)


# Label children per (target, kind, outcome): prometheus_client's labels() validates and hashes
# its arguments on every call, which cost more CPU per probe than the HTTP exchange itself.
_CHILDREN: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}


def observe_probe(
    *, target: str, kind: str, outcome: str, latency_ms: float | None, started_unix_s: float,
    late: bool = False,
) -> None:
    """Count one probe in the exported metrics.

    A probe marked as the prober's lateness (``late``) measured us, not the target: as it stays
    out of the grade, it stays out of the target's counts and latencies, which Prometheus's
    alerts (deploy/prometheus/alerts.yml) and the Live page read; it only moves the time of the
    newest probe, and clfwatch_prober_late_probes_total counts it.
    """
    key = (target, kind, outcome)
    children = _CHILDREN.get(key)
    if children is None:
        children = _CHILDREN[key] = (
            PROBES_TOTAL.labels(target, kind, outcome),
            PROBE_LATENCY.labels(target, kind),
            PROBE_LAST_TIMESTAMP.labels(target, kind),
        )
    total, latency, last = children
    last.set(started_unix_s)
    if late:
        return
    total.inc()
    if latency_ms is not None:
        latency.observe(latency_ms / 1000.0)


_CHAT_CHILDREN: dict[str, tuple[Any, Any]] = {}


def observe_chat(*, target: str, ttft_ms: float | None, tokens_per_s: float | None) -> None:
    """Count one ok chat probe's time to first token and output rate."""
    children = _CHAT_CHILDREN.get(target)
    if children is None:
        children = _CHAT_CHILDREN[target] = (CHAT_TTFT.labels(target), CHAT_TOKENS_PER_S.labels(target))
    ttft, rate = children
    if ttft_ms is not None:
        ttft.observe(ttft_ms / 1000.0)
    if tokens_per_s is not None:
        rate.set(tokens_per_s)


def serve_metrics(port: int, addr: str = METRICS_BIND_ADDR) -> object | None:
    """Serve /metrics on ``addr:port``; 0 disables it. Returns the server (to shut down) or None."""
    if port == 0:
        return None
    server, _thread = start_http_server(port, addr=addr)
    log.info("event=metrics_serving addr=%s port=%d", addr, port)
    return server


# The prober's own lateness: how long after its slot each probe started. Overload shows here
# (and in the heartbeat row the dashboard reads), never in a team's grade.
PROBER_LATENESS = Histogram(
    "clfwatch_prober_lateness_seconds",
    "How long after its scheduled slot each probe started (the prober's own delay).",
    buckets=LATENESS_BUCKETS_S,
)
PROBER_LATE_PROBES = Counter(
    "clfwatch_prober_late_probes_total",
    "Probes marked as the prober's lateness (started past the late bound): kept, never graded.",
)
PROBER_LATENESS_MAX = Gauge(
    "clfwatch_prober_lateness_max_seconds",
    "The worst start delay of a probe over the last heartbeat interval.",
)


def observe_lateness(late_s: float) -> None:
    """Count one probe's start delay, seconds after its slot."""
    PROBER_LATENESS.observe(late_s)


def count_late_probe() -> None:
    """One probe marked as the prober's lateness."""
    PROBER_LATE_PROBES.inc()


def observe_late_window(worst_s: float) -> None:
    """The worst start delay since the previous heartbeat."""
    PROBER_LATENESS_MAX.set(worst_s)
