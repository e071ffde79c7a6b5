"""Stress runs and their verdicts as the stress page shows them, evidence redacted."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.contract import LlmScenarioName
from core.redaction import redact_evidence
from dashboard.db import session_for
from storage.stress import list_stress_runs
from storage.targets import get_target, list_targets, probe_targets

STRESS_TTL_S = 2  # short, so a running stress run shows its verdicts as they land
STRESS_RUNS_LIMIT = 20
# The ten scenario names of DESIGN.md, in their order. Not imported from ``stress``: that
# package brings Locust (and gevent's monkey-patching) with it, which must stay out of here.
SCENARIO_ORDER = (
    "contract", "malformed_json", "schema_violations", "huge_payload", "unicode_edge",
    "injection", "http_abuse", "spike", "recovery", "slow_clients",
)
# The LLM suite's ten (openai-chat targets), from core: the names the database stores.
LLM_SCENARIO_ORDER: tuple[str, ...] = tuple(LlmScenarioName)
ORDER_BY_SUITE = {"classifier": SCENARIO_ORDER, "llm": LLM_SCENARIO_ORDER}


@st.cache_data(ttl=STRESS_TTL_S, show_spinner=False)
def stress_runs(url: str, target: str | None) -> list[dict[str, Any]]:
    """Newest runs first (both suites), each with its verdicts in its suite's scenario order.

    Evidence is redacted: any bearer token, and any stored target token, becomes ``<token>``.
    """
    with session_for(url, "load the stress runs") as session:
        names = {v.id: v.name for v in list_targets(session)}
        tokens = [t.token for t in probe_targets(session) if t.token]  # core.redaction skips short ones
        target_id = None
        if target is not None:
            target_id = get_target(session, target).id
        runs = list_stress_runs(session, target_id=target_id, limit=STRESS_RUNS_LIMIT)
        out = []
        for run in runs:
            by_name = {r.scenario: r for r in run.results}
            suite_order = ORDER_BY_SUITE.get(run.suite, SCENARIO_ORDER)
            order = list(suite_order) + sorted(set(by_name) - set(suite_order))
            results: list[dict[str, Any]] = []
            for scenario in order:
                r = by_name.get(scenario)
                if r is None:
                    results.append({"scenario": scenario, "verdict": "pending" if run.status == "running"
                                    else "not run", "summary": "", "evidence": None, "curl": []})
                    continue
                evidence = redact_evidence(r.evidence, tokens)
                summary = evidence.get("summary") if isinstance(evidence, dict) else None
                results.append({"scenario": scenario, "verdict": "pass" if r.passed else "FAIL",
                                "summary": summary if isinstance(summary, str) else "",
                                "evidence": evidence, "curl": curl_commands(evidence)})
            out.append({
                "id": run.id,
                "target": names.get(run.target_id) if run.target_id is not None else None,
                "url": run.target_url if run.target_id is None else None,
                "started_at": run.started_at, "finished_at": run.finished_at,
                "status": run.status, "score": run.score, "done": len(by_name),
                "suite": run.suite, "out_of": len(suite_order), "graded": run.graded,
                "results": results,
            })
    return out


def curl_commands(evidence: Any) -> list[str]:
    """Every reproducing ``curl`` command held in the evidence, in order (keys named ``curl``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.lower().startswith("curl"):
                    if isinstance(value, str):
                        found.append(value)
                    elif isinstance(value, list):
                        found.extend(v for v in value if isinstance(v, str))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(evidence)
    return found
