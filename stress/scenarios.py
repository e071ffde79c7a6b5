"""The classifier suite's ten scenarios, in the order of DESIGN.md: a name, one line of what it
checks, and its run; and what a suite is (the LLM suite, ``stress.llm.scenarios``, is another).

The names are ``core.contract.ScenarioName`` (the database stores their values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.contract import ScenarioName, TargetKind
from stress import crafted, load
from stress.bars import Bars
from stress.context import StressContext
from stress.evidence import ScenarioResult, SentRequest
from stress.preflight import classifier_preflight_requests
from stress.target import TargetSpec


@dataclass(frozen=True)
class Scenario:
    name: str  # a core.contract ScenarioName or LlmScenarioName
    description: str
    run: Callable[[StressContext], ScenarioResult]


@dataclass(frozen=True)
class Suite:
    """Ten scenarios for one kind of target, and what a run of them needs before the first.

    The runner, the evidence, the storage and the CLI are the same for every suite; a suite
    brings its scenarios, the requests that tell whether the target answers at all, how a bare
    URL becomes a target of its kind (``adapt``), and what it must learn from the target before
    the first scenario (``prepare``, e.g. the model an LLM serves), returning notes for the report.
    """

    name: str  # stored in stress_runs.suite
    kind: str  # the core.contract.TargetKind it is for
    scenarios: tuple[Scenario, ...]
    preflight_requests: Callable[[TargetSpec], list[SentRequest]]
    adapt: Callable[[TargetSpec], TargetSpec] | None = None
    prepare: Callable[[TargetSpec, Bars], tuple[TargetSpec, dict[str, Any]]] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scenarios)

    @property
    def by_name(self) -> dict[str, Scenario]:
        return {s.name: s for s in self.scenarios}


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

CLASSIFIER_SUITE = Suite(
    name="classifier",
    kind=TargetKind.CLASSIFIER,
    scenarios=SCENARIOS,
    preflight_requests=classifier_preflight_requests,
)
