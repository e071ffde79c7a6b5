"""The ten scenarios, in the order of DESIGN.md: a name, one line of what it checks, and its run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stress import crafted, load
from stress.context import StressContext
from stress.evidence import ScenarioResult


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    run: Callable[[StressContext], ScenarioResult]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "contract", "varied valid requests get 200 and a valid body; health says ok", crafted.run_contract
    ),
    Scenario(
        "malformed_json",
        "broken JSON, empty body, wrong content type, bytes that are not UTF-8 -> 4xx",
        crafted.run_malformed_json,
    ),
    Scenario(
        "schema_violations",
        "missing/extra fields, wrong types, null, deep nesting -> 4xx or valid 200",
        crafted.run_schema_violations,
    ),
    Scenario(
        "huge_payload",
        "1 MB and 10 MB texts -> 413/4xx or a valid 200 in time; healthy afterwards",
        crafted.run_huge_payload,
    ),
    Scenario(
        "unicode_edge",
        "emoji, RTL, zero-width, control chars, whitespace, a 100 kB word -> no 5xx",
        crafted.run_unicode_edge,
    ),
    Scenario(
        "injection",
        "SQL, shell, template, traversal, log and script strings -> no 5xx, no leak",
        crafted.run_injection,
    ),
    Scenario(
        "http_abuse",
        "wrong methods, unknown paths, oversized headers, many params -> 4xx, no hang",
        crafted.run_http_abuse,
    ),
    Scenario("spike", "a sudden burst of users: 200-rate and p95 latency within the bars", load.run_spike),
    Scenario(
        "recovery",
        "after a burst, health and latency back to normal within a bounded time",
        load.run_recovery,
    ),
    Scenario(
        "slow_clients",
        "slow and idle connections held open; normal requests still served in time",
        load.run_slow_clients,
    ),
)
SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in SCENARIOS)
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
