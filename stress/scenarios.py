"""The ten scenarios, in the order of DESIGN.md: a name, one line of what it checks, and its run.

The names are ``core.contract.ScenarioName`` (the database stores their values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.contract import ScenarioName
from stress import crafted, load
from stress.context import StressContext
from stress.evidence import ScenarioResult


@dataclass(frozen=True)
class Scenario:
    name: ScenarioName
    description: str
    run: Callable[[StressContext], ScenarioResult]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        ScenarioName.CONTRACT,
        "varied valid requests get 200 and a valid body; health says ok",
        crafted.run_contract,
    ),
    Scenario(
        ScenarioName.MALFORMED_JSON,
        "broken JSON, empty body, wrong content type, bytes that are not UTF-8 -> 4xx",
        crafted.run_malformed_json,
    ),
    Scenario(
        ScenarioName.SCHEMA_VIOLATIONS,
        "missing/extra fields, wrong types, null, deep nesting -> 4xx or valid 200",
        crafted.run_schema_violations,
    ),
    Scenario(
        ScenarioName.HUGE_PAYLOAD,
        "1 MB and 10 MB texts -> 413/4xx or a valid 200 in time; healthy afterwards",
        crafted.run_huge_payload,
    ),
    Scenario(
        ScenarioName.UNICODE_EDGE,
        "emoji, RTL, zero-width, control chars, whitespace, a 100 kB word -> no 5xx",
        crafted.run_unicode_edge,
    ),
    Scenario(
        ScenarioName.INJECTION,
        "SQL, shell, template, traversal, log and script strings -> no 5xx, no leak",
        crafted.run_injection,
    ),
    Scenario(
        ScenarioName.HTTP_ABUSE,
        "wrong methods, unknown paths, oversized headers, many params -> 4xx, no hang",
        crafted.run_http_abuse,
    ),
    Scenario(
        ScenarioName.SPIKE,
        "a sudden burst of users: 200-rate and p95 latency within the bars",
        load.run_spike,
    ),
    Scenario(
        ScenarioName.RECOVERY,
        "after a burst, health and latency back to normal within a bounded time",
        load.run_recovery,
    ),
    Scenario(
        ScenarioName.SLOW_CLIENTS,
        "slow and idle connections held open; normal requests still served in time",
        load.run_slow_clients,
    ),
)
SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in SCENARIOS)
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
