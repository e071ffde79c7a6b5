"""Old import path of the window queries, kept only for branches written before the split.

The module did several jobs; each now has its own: ``storage.spans`` (rollup hours vs raw edges),
``storage.probe_counts``, ``storage.latency_percentiles``, ``storage.windows`` (a target's
window), ``storage.latest_answers`` (the AUC's inputs), ``storage.team_series`` (the team page's
charts) and ``storage.grading_inputs`` (the scoreboard's one fetch). Import from those; this
file goes once no branch in flight imports it.
"""

from __future__ import annotations

from storage.latency_percentiles import EXACT_PERCENTILE_MAX_ROWS, latency_percentile_ms
from storage.latest_answers import latest_probabilities, latest_probabilities_many
from storage.probe_counts import LatencySums, ProbeCounts, ok_latency_sums, probe_counts, probe_counts_many
from storage.spans import Span, clip_spans, hour_ceil, span_gaps
from storage.team_series import LatencyPoint, UptimePoint, hourly_uptime, latency_series
from storage.windows import WindowAggregates, last_probe_times, window_aggregates, window_aggregates_many

__all__ = [
    "EXACT_PERCENTILE_MAX_ROWS", "LatencyPoint", "LatencySums", "ProbeCounts", "Span", "UptimePoint",
    "WindowAggregates", "clip_spans", "hour_ceil", "hourly_uptime", "last_probe_times",
    "latency_percentile_ms", "latency_series", "latest_probabilities", "latest_probabilities_many",
    "ok_latency_sums", "probe_counts", "probe_counts_many", "span_gaps", "window_aggregates",
    "window_aggregates_many",
]
