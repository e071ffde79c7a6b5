"""The bars every scenario is judged against, and the budgets that bound it: defaults in one place.

A run may override any of them (``Bars.with_overrides``), so tests use budgets of a few seconds
and a course can tighten or relax a bar without touching scenario code. The latency bar matches
the grading rules' zero point (0.5 s): a service slower than that earns nothing anyway; the LLM
suite's TTFT bar is the ``[llm]`` rules' TTFT zero point (2 s) for the same reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import ClfwatchError
from scoring.rules import DEFAULT_LLM_TTFT_ZERO_AT_S

MEGABYTE = 1024 * 1024
KILOBYTE = 1000
# The LLM suite's bar on time to first token (p95 under load, and each normal stream beside slow
# readers): the [llm] grading rules' default zero point for TTFT (2 s), where a chat visibly hangs
# and a bot's caller gives up; a service slower than that earns no TTFT points anyway. The
# default, not a course's rules file: a stress run does not read the grading rules.
LLM_TTFT_BAR_S = DEFAULT_LLM_TTFT_ZERO_AT_S


class BarsError(ClfwatchError, ValueError):
    """An override names an unknown bar or gives a value it cannot take."""


@dataclass(frozen=True)
class Bars:
    # --- bars (what passing means) ---
    latency_bar_s: float = 0.5  # p95 of normal requests under load must stay at or below this
    min_rate200: float = 0.95  # share of normal requests under load that must get a valid 200
    request_timeout_s: float = 5.0  # a crafted request unanswered after this is a hang
    huge_timeout_s: float = 15.0  # a 1 MB / 10 MB body must be answered within this
    recovery_latency_factor: float = 3.0  # "normal" = within this many times the calm p50 ...
    recovery_latency_floor_ms: float = 100.0  # ... but never asked to be faster than this
    # --- budgets (how much a scenario may send, and for how long) ---
    scenario_max_s: float = 120.0  # hard ceiling of any one crafted scenario
    contract_requests: int = 12  # valid requests sent by `contract` (cycled through the samples)
    huge_sizes_bytes: tuple[int, ...] = (MEGABYTE, 10 * MEGABYTE)
    unicode_long_word_chars: int = 100_000
    nesting_depth: int = 5_000  # depth of the deeply nested value in `schema_violations`
    oversized_header_bytes: int = 64 * 1024
    many_query_params: int = 2_000
    spike_users: int = 50
    spike_spawn_rate: float = 50.0  # users started per second: 50 users in about one second
    spike_duration_s: float = 10.0
    spike_wait_max_s: float = 0.1  # each simulated user waits 0..this between requests
    spike_max_requests: int = 200_000
    recovery_burst_users: int = 100
    recovery_burst_s: float = 8.0
    recovery_calm_requests: int = 10  # sequential requests measuring "normal" before the burst
    # a target not healthy yet (one 503 while it warms up) gets this long to become healthy before
    # the burst; only after it is the verdict "not healthy before the burst"
    recovery_ready_wait_s: float = 20.0
    recovery_window_s: float = 15.0  # the service must be back to normal within this after the burst
    recovery_consecutive_ok: int = 5  # this many normal answers in a row count as recovered
    slow_clients: int = 60  # slow/idle sockets held open at once
    slow_hold_s: float = 10.0
    slow_trickle_interval_s: float = 1.0  # a slow socket sends one more header line this often
    slow_probe_users: int = 2  # Locust users sending normal requests meanwhile
    slow_probe_wait_s: float = 0.2
    # a run first checks that the target answers at all, for at most this long (a few tries);
    # nothing answering ends the run with one line, before any scenario
    preflight_budget_s: float = 5.0
    load_grace_s: float = 30.0  # a load subprocess still alive this long after its run time is killed
    # --- the llm suite (openai-chat targets); its bars and budgets, apart from the classifier's ---
    llm_ttft_bar_s: float = LLM_TTFT_BAR_S  # TTFT p95 under the burst; each normal stream's TTFT
    llm_request_timeout_s: float = 30.0  # a chat request (streamed or not) unanswered after this hangs
    llm_max_tokens: int = 16  # what every request of the suite asks for (small: TTFT, not throughput)
    llm_schema_requests: int = 3  # completions checked by chat_schema, and streams by stream_schema
    llm_long_prompt_bytes: int = 200 * KILOBYTE  # past any sane context window, still a bounded upload
    llm_long_prompt_timeout_s: float = 60.0  # the long prompt must be answered (4xx or 200) within this
    llm_burst_users: int = 20  # concurrent streaming clients of the burst (Locust users)
    llm_burst_spawn_rate: float = 20.0  # users started per second: all of them in about one second
    llm_burst_s: float = 10.0
    llm_burst_wait_max_s: float = 0.2  # each user waits 0..this between its streams
    llm_burst_max_requests: int = 5_000
    llm_recovery_window_s: float = 30.0  # after the burst, one request must succeed within this
    llm_recovery_burst_s: float = 5.0  # recovery's own burst, when the burst did not just run
    llm_slow_readers: int = 4  # clients that open a stream and read it very slowly
    llm_slow_max_tokens: int = 256  # what a slow reader asks for: a long answer to hold open
    llm_slow_read_bytes: int = 16  # a slow reader takes this many bytes ...
    llm_slow_read_interval_s: float = 1.0  # ... this often
    llm_slow_hold_s: float = 10.0  # how long the slow readers are held open, at most
    llm_slow_normal_streams: int = 3  # streams of a normal client that must complete meanwhile

    def with_overrides(self, overrides: Mapping[str, object]) -> Bars:
        """A copy with some bars changed; strings (from a command line) are converted."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, object] = {}
        for name, raw in overrides.items():
            if name not in fields:
                raise BarsError(f"unknown bar {name!r}; known: {', '.join(sorted(fields))}")
            current = getattr(self, name)
            try:
                changes[name] = _convert(raw, current)
            except (TypeError, ValueError):
                raise BarsError(f"bar {name!r}: cannot use {raw!r}") from None
            value = changes[name]
            if isinstance(value, int | float) and value < 0:
                raise BarsError(f"bar {name!r}: must not be negative")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _convert(raw: object, current: object) -> object:
    if isinstance(current, tuple):
        items = raw.split(",") if isinstance(raw, str) else list(raw)  # type: ignore[call-overload]
        return tuple(int(i) for i in items)
    if isinstance(current, int) and not isinstance(current, bool):
        return int(raw)  # type: ignore[call-overload]
    if isinstance(current, float):
        return float(raw)  # type: ignore[arg-type]
    raise TypeError(type(current).__name__)


def parse_bar_overrides(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings from a command line into a mapping."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BarsError(f"bar override {item!r} is not NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


DEFAULT_BARS = Bars()
