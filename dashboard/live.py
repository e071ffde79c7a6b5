"""Live request rate, error share and p95 latency of the reference service and the prober.

Read from Prometheus (prometheus-api-client), which scrapes both; the page gets plain
DataFrames and numbers, never a client object or an exception text.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from core.errors import ClfwatchError

log = logging.getLogger(__name__)

DEFAULT_MINUTES = 15
# Rates over one minute: a few samples even at a 15 s scrape interval.
RATE_WINDOW = "1m"
TARGET_POINTS = 120  # points per series: step = window / this, at least one second
PROMETHEUS_TIMEOUT_S = 5
# The client's default is 3 retries with a 1 s backoff: seconds of a blank page when it is down.
PROMETHEUS_RETRIES = 1
PROMETHEUS_BACKOFF_S = 0.2
P95 = 0.95
# The scrape of /metrics is not traffic; leave it out of the service's numbers.
SERVICE_SELECTOR = 'path!="/metrics"'

SERVICE_QUERIES = {
    "request_rate_per_s": f"sum(rate(clfwatch_service_requests_total{{{SERVICE_SELECTOR}}}[{RATE_WINDOW}]))",
    "error_share": (
        f'(sum(rate(clfwatch_service_requests_total{{{SERVICE_SELECTOR},status=~"5.."}}[{RATE_WINDOW}]))'
        f" or vector(0))"
        f" / sum(rate(clfwatch_service_requests_total{{{SERVICE_SELECTOR}}}[{RATE_WINDOW}]))"
    ),
    "p95_latency_s": (
        f"histogram_quantile({P95}, sum by (le) "
        f"(rate(clfwatch_service_request_duration_seconds_bucket{{{SERVICE_SELECTOR}}}[{RATE_WINDOW}])))"
    ),
}
PROBER_QUERIES = {
    "request_rate_per_s": f"sum(rate(clfwatch_probes_total[{RATE_WINDOW}]))",
    "error_share": (
        f'(sum(rate(clfwatch_probes_total{{outcome!="ok"}}[{RATE_WINDOW}])) or vector(0))'
        f" / sum(rate(clfwatch_probes_total[{RATE_WINDOW}]))"
    ),
    "p95_latency_s": (
        f"histogram_quantile({P95}, sum by (le) (rate(clfwatch_probe_latency_seconds_bucket[{RATE_WINDOW}])))"
    ),
}
SOURCES = {"service": SERVICE_QUERIES, "prober": PROBER_QUERIES}


class LiveError(ClfwatchError):
    """Prometheus could not be read; the message is safe to show."""


@dataclass(frozen=True)
class SourceMetrics:
    """One scraped source over the window. Each series has columns ``time`` (aware UTC), ``value``.

    ``current_*`` is the value at the time of the fetch; None when Prometheus has none yet.
    """

    name: str  # "service" or "prober"
    request_rate_per_s: pd.DataFrame
    error_share: pd.DataFrame  # 0..1: 5xx answers (service) or non-ok probes (prober)
    p95_latency_s: pd.DataFrame
    current_request_rate_per_s: float | None = None
    current_error_share: float | None = None
    current_p95_latency_s: float | None = None

    @property
    def has_data(self) -> bool:
        return self.current_request_rate_per_s is not None or not self.request_rate_per_s.empty


@dataclass(frozen=True)
class LiveMetrics:
    """What the Live page shows: both sources over the last ``minutes``."""

    minutes: int
    fetched_at: datetime
    sources: dict[str, SourceMetrics] = field(default_factory=dict)


def _empty_series() -> pd.DataFrame:
    return pd.DataFrame({"time": pd.Series(dtype="datetime64[ns, UTC]"), "value": pd.Series(dtype=float)})


def series_frame(result: list[dict[str, Any]]) -> pd.DataFrame:
    """The first series of a range-query result as ``time``/``value``; NaN and inf points dropped.

    Prometheus sends values as strings ("1.5", "NaN"): they are converted here. Empty in, empty out.
    """
    if not result:
        return _empty_series()
    points = result[0].get("values") or []
    rows = []
    for stamp, raw in points:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            rows.append((datetime.fromtimestamp(float(stamp), tz=UTC), value))
    if not rows:
        return _empty_series()
    frame = pd.DataFrame(rows, columns=["time", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def instant_value(result: list[dict[str, Any]]) -> float | None:
    """The value of the first series of an instant-query result; None when empty or not finite."""
    if not result:
        return None
    try:
        value = float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _step(minutes: int) -> str:
    return f"{max(1, int(minutes * 60 / TARGET_POINTS))}s"


def fetch_live(
    prometheus_url: str, *, minutes: int = DEFAULT_MINUTES, now: datetime | None = None
) -> LiveMetrics:
    """Range queries for both sources over the last ``minutes``; LiveError when Prometheus fails."""
    from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
    from urllib3.util.retry import Retry

    if minutes <= 0:
        raise ValueError("minutes must be positive")
    end = now or datetime.now(UTC)
    start = end - timedelta(minutes=minutes)
    try:
        client = PrometheusConnect(
            prometheus_url, disable_ssl=True, timeout=PROMETHEUS_TIMEOUT_S,
            retry=Retry(total=PROMETHEUS_RETRIES, backoff_factor=PROMETHEUS_BACKOFF_S),
        )
    except (TypeError, ValueError):
        raise LiveError("CLFWATCH_PROMETHEUS_URL is not a usable Prometheus URL") from None
    sources: dict[str, SourceMetrics] = {}
    for name, queries in SOURCES.items():
        frames: dict[str, pd.DataFrame] = {}
        current: dict[str, float | None] = {}
        for key, query in queries.items():
            try:
                result = client.custom_query_range(query, start_time=start, end_time=end, step=_step(minutes))
                # The newest range point can be a step old; the page's numbers are read at ``end``.
                instant = client.custom_query(query, params={"time": f"{end.timestamp():.3f}"})
            except (PrometheusApiClientException, OSError, ValueError) as exc:
                log.warning("event=prometheus_query_failed source=%s error=%s", name, type(exc).__name__)
                raise LiveError("Prometheus did not answer; check CLFWATCH_PROMETHEUS_URL") from None
            frames[key] = series_frame(result)
            current[key] = instant_value(instant)
        sources[name] = SourceMetrics(
            name=name,
            request_rate_per_s=frames["request_rate_per_s"],
            error_share=frames["error_share"],
            p95_latency_s=frames["p95_latency_s"],
            current_request_rate_per_s=current["request_rate_per_s"],
            current_error_share=current["error_share"],
            current_p95_latency_s=current["p95_latency_s"],
        )
    return LiveMetrics(minutes=minutes, fetched_at=end, sources=sources)
