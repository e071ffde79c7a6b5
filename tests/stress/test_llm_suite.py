"""The LLM suite (``stress run --suite llm``) against real servers on loopback.

- the demo LLM passes all ten scenarios, through the CLI, stored with its suite (both backends);
- LiteLLM's proxy (an independent implementation) runs to the end; what it passes is recorded
  in ``LITELLM_EXPECTED`` with the reason for each failure;
- each faulty server of tests/llm/servers.py fails exactly the scenarios in ``FAULTY_EXPECTED``
  and passes the rest; the demo with one behaviour defect (tests/stress/llm_apps.py) fails the
  load, key and long-prompt scenarios that exist to catch it;
- a dead target stops the run with one line, within a bound;
- the key never appears in the output, the JSON document or the stored run.

Budgets are cut to seconds (``BAR_OVERRIDES``); the bars themselves are the defaults except
where a test says why. Listed in tests/conftest.py SERIAL_MODULES: the burst's TTFT bar is a
wall-clock measure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from core.contract import LlmScenarioName
from dashboard.stress_runs import curl_commands
from storage.engine import session_scope
from storage.stress import list_stress_runs
from storage.targets import add_target
from stress.bars import DEFAULT_BARS
from stress.preflight import PREFLIGHT_ROW
from stress.runner import StressError, StressReport, run_stress
from tests.conftest import REPO_ROOT
from tests.llm.servers import Defect, LlmServer, demo_llm_server, faulty_llm_server
from tests.servers import free_port
from tests.stress.llm_apps import faulty_demo_server

CLI = [sys.executable, "-m", "clfwatch.cli", "stress", "run"]
LLM_NAMES = [str(n) for n in LlmScenarioName]
BAR_OVERRIDES = {
    "llm_request_timeout_s": 5.0,
    "llm_long_prompt_timeout_s": 5.0,
    "llm_burst_users": 5,
    "llm_burst_spawn_rate": 5.0,
    "llm_burst_s": 2.0,
    "llm_recovery_window_s": 5.0,
    "llm_recovery_burst_s": 1.5,
    "llm_slow_readers": 3,
    "llm_slow_hold_s": 2.0,
    "llm_slow_read_interval_s": 0.25,
    "llm_slow_normal_streams": 2,
    "preflight_budget_s": 3.0,
}
TEST_BARS = DEFAULT_BARS.with_overrides(BAR_OVERRIDES)
BAR_ARGS = [arg for name, value in BAR_OVERRIDES.items() for arg in ("--bar", f"{name}={value}")]
DEAD_TARGET_BOUND_S = 30.0  # preflight budget 3 s plus interpreter start-up, on a loaded machine

# The faulty servers of tests/llm/servers.py have one defect each in what they answer, and none
# of them validates a request: broken JSON is a bare 500 (Starlette's), a request without
# messages, with role "bot" or max_tokens -1 a 200. So bad_request fails on every one of them;
# on the max_tokens crash it fails on that row with "server error 500" (checked below).
FAULTY_COMMON = {"bad_request"}
FAULTY_EXPECTED: dict[Defect, set[str]] = {
    Defect.NO_OBJECT: {"chat_schema", "stream_schema"},  # completions and chunks lack "object"
    # no choice in any chunk: no token ever arrives, so there is no TTFT under load either
    Defect.EMPTY_CHOICES: {"chat_schema", "stream_schema", "burst", "slow_readers"},
    Defect.ROLE_BOT: {"chat_schema", "stream_schema"},  # message role and first delta role
    Defect.NO_DONE: {"stream_schema"},
    Defect.AUTH_NOT_ENFORCED: {"auth_required"},
    Defect.CRASH_ON_NEGATIVE_MAX_TOKENS: set(),  # bad_request, on its own row (see above)
    Defect.STREAM_CUT: {"stream_schema"},  # load scenarios judge time to first token, not the cut
}

# LiteLLM's proxy 1.108.5 with a mock_response model, a master key and no database
# (tests/llm/servers.py), measured here on 2026-12-05:
LITELLM_PASSES = {"chat_schema", "stream_schema", "models_list", "long_prompt", "injection"}
LITELLM_FAILS = {
    # a wrong key (and the key with one character more) gets 400 "No connected db.": without a
    # database the proxy cannot look up a key that is not its master key, and says so with a 400
    # (no key at all and an empty key get 401)
    "auth_required": {"a wrong key is refused", "the key with one character more is refused"},
    # the proxy hands the request to its (mock) model without checking it: an empty messages
    # list, role "bot", no role, max_tokens -1 and max_tokens "ten" are answered 200 (broken JSON,
    # no messages and messages that are not a list are refused with a 400)
    "bad_request": {"messages empty", 'role "bot"', "role missing", "max_tokens: -1", 'max_tokens: "ten"'},
}
# burst, recovery and slow_readers are timing: not asserted. Here the mock model's streams took
# 2.3-2.5 s each under the burst's 5 users (TTFT p95 2.3-2.5 s > the 2 s bar: burst failed),
# 40-410 ms alone; recovery answered within 0.1 s; slow_readers passed (TTFT up to 50 ms).
LITELLM_TIMING = {"burst", "recovery", "slow_readers"}


def clfwatch(
    args: list[str], env: dict[str, str], timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s
    )


def run_llm(server: LlmServer, *, database_url: str | None = None, only: list[str] | None = None,
            **overrides: Any) -> StressReport:
    bars = TEST_BARS.with_overrides(overrides) if overrides else TEST_BARS
    return run_stress(server.base_url, database_url=database_url, suite="llm", token=server.key,
                      only=only, bars=bars)


def failed(report: StressReport) -> set[str]:
    return {r.scenario for r in report.results if not r.passed}


def summaries(report: StressReport) -> str:
    return "\n".join(f"{r.scenario}: {'pass' if r.passed else 'FAIL'}: {r.summary}" for r in report.results)


def test_the_demo_llm_passes_every_scenario_through_the_cli(cli_env: dict[str, str], db_url: str) -> None:
    with demo_llm_server() as demo:
        out = clfwatch([demo.base_url, "--suite", "llm", "--token", demo.key, "--format", "json", *BAR_ARGS],
                       cli_env)
    assert out.returncode == 0, out.stderr[-3000:]
    document = json.loads(out.stdout)  # stdout is exactly one JSON document
    assert (document["suite"], document["status"], document["score"], document["out_of"]) == (
        "llm", "finished", 10, 10
    ), out.stderr[-3000:]
    assert [r["scenario"] for r in document["results"]] == LLM_NAMES
    assert document["notes"]["model"] == demo.model  # read from GET /v1/models
    for name in LLM_NAMES:  # progress as the classifier suite prints it, one line per scenario
        assert f"PASS  {name}" in out.stderr
    for result in document["results"]:
        commands = curl_commands(result["evidence"])
        assert commands, result["scenario"]  # every scenario can be replayed ...
        assert any("$KEY" in c for c in commands), result["scenario"]  # ... with the key as $KEY
    assert demo.key not in out.stdout and demo.key not in out.stderr
    with session_scope(db_url) as session:
        runs = list_stress_runs(session)
        assert len(runs) == 1
        run = runs[0]
        assert (run.id, run.suite, run.status, run.score) == (document["run_id"], "llm", "finished", 10)
        assert [r.scenario for r in run.results] == LLM_NAMES
        stored = json.dumps([r.evidence for r in run.results])
        assert list_stress_runs(session, suite="classifier") == []
    assert demo.key not in stored
    assert "Bearer $KEY" in stored


@pytest.mark.parametrize("defect", list(Defect))
def test_each_faulty_server_fails_exactly_what_it_breaks(defect: Defect) -> None:
    with faulty_llm_server(defect) as server:
        report = run_llm(server)
    assert report.status == "finished"
    assert [r.scenario for r in report.results] == LLM_NAMES
    assert failed(report) == FAULTY_EXPECTED[defect] | FAULTY_COMMON, summaries(report)
    bad_request = next(r for r in report.results if r.scenario == "bad_request")
    rows = {row["label"]: row for row in bad_request.evidence["cases"]}
    crash = rows["max_tokens: -1"]
    assert not crash["ok"]
    assert ("server error 500" in crash["reason"]) == (defect is Defect.CRASH_ON_NEGATIVE_MAX_TOKENS)
    for row in rows.values():  # each case is evidence of its own, with the key as $KEY
        assert row["curl"].startswith("curl ") and '"Authorization: Bearer $KEY"' in row["curl"]


def test_the_schema_failures_name_the_field_path() -> None:
    with faulty_llm_server(Defect.ROLE_BOT) as server:
        report = run_llm(server, only=["chat_schema", "stream_schema"])
    chat, stream = report.results
    assert 'choices[0].message.role: expected "assistant"' in chat.summary
    assert 'choices[0].delta.role: expected "assistant"' in stream.summary
    failure = chat.evidence["first_failure"]
    assert failure["curl"].startswith("curl ") and "$KEY" in failure["curl"]
    assert failure["response"]["status"] == 200


def test_a_server_that_serializes_generation_fails_burst_and_slow_readers() -> None:
    """One generation at a time: under 5 users the queue is seconds deep, and a slow reader holds
    the lock for its whole answer. The TTFT bar is lowered to 1 s (the demo's own TTFT is 50 ms
    here; the serialized queue is 4 x ~0.7 s), the normal client's timeout to 4 s."""
    with faulty_demo_server("serialized") as server:
        report = run_llm(server, only=["burst", "recovery", "slow_readers"], llm_ttft_bar_s=1.0,
                         llm_request_timeout_s=4.0, llm_burst_s=3.0, llm_slow_normal_streams=1,
                         llm_slow_max_tokens=200)
    assert failed(report) == {"burst", "slow_readers"}, summaries(report)
    burst, recovery, slow = report.results
    assert "TTFT p95" in burst.summary and "> 1000 ms" in burst.summary
    assert burst.evidence["first_failure"]["curl"]
    assert recovery.passed and recovery.evidence["measured_from"] == "the burst scenario's end"
    assert slow.evidence["slow_opened"] == TEST_BARS.llm_slow_readers
    assert "normal stream #1" in slow.summary


def test_an_echoed_key_fails_and_is_never_stored_or_printed(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = sqlite_url
    with faulty_demo_server("echoes_headers") as server:
        out = clfwatch([server.base_url, "--suite", "llm", "--token", server.key, "--only",
                        "bad_request,injection,auth_required", *BAR_ARGS], env)
    assert out.returncode == 1, out.stderr[-3000:]
    assert "FAIL  bad_request" in out.stdout and "the answer holds the key" in out.stdout
    assert "PASS  injection" in out.stdout and "PASS  auth_required" in out.stdout
    assert server.key not in out.stdout and server.key not in out.stderr
    with session_scope(sqlite_url) as session:
        run = list_stress_runs(session)[0]
        stored = json.dumps([r.evidence for r in run.results]) + json.dumps(run.target_url)
    assert server.key not in stored and "<token>" in stored  # the echoed key, redacted


@pytest.mark.parametrize(("fault", "why"), [
    ("long_prompt_traceback", "the response leaks internals (stack_trace"),
    ("long_prompt_hang", "no answer within 2 s"),
])
def test_a_long_prompt_that_crashes_or_hangs_fails(fault: str, why: str) -> None:
    started = time.monotonic()
    with faulty_demo_server(fault) as server:
        report = run_llm(server, only=["long_prompt", "chat_schema"], llm_long_prompt_timeout_s=2.0)
    assert failed(report) == {"long_prompt"}, summaries(report)
    long_prompt = next(r for r in report.results if r.scenario == "long_prompt")
    assert why in long_prompt.summary
    rows = long_prompt.evidence["cases"]
    assert len(rows) == 2 and not any(row["ok"] for row in rows)
    assert all(row["curl"].startswith("python3 -c ") for row in rows)  # the 200 kB body is generated
    assert time.monotonic() - started < 60  # bounded: two 2 s timeouts, not a hang


def test_a_dead_target_stops_the_run_with_one_line(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = sqlite_url
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    args = [url, "--suite", "llm", "--token", "a-key-for-nobody-1234", "--bar", "preflight_budget_s=3"]
    out = clfwatch(args, env, timeout_s=DEAD_TARGET_BOUND_S * 2)
    took_s = time.monotonic() - started
    assert out.returncode == 2, out.stderr
    assert took_s < DEAD_TARGET_BOUND_S
    line = out.stderr.strip().splitlines()[-1]
    assert url in line and "connection refused" in line and "start the service" in line
    assert "/v1/models" in line and "/v1/chat/completions" in line  # what was tried
    assert "a-key-for-nobody-1234" not in out.stdout + out.stderr
    with session_scope(sqlite_url) as session:
        run = list_stress_runs(session)[0]
        stored = (run.suite, run.status, [r.scenario for r in run.results])
    assert stored == ("llm", "failed", [PREFLIGHT_ROW])


def test_a_registered_target_takes_its_kind_suite_and_refuses_the_other(sqlite_url: str) -> None:
    with demo_llm_server() as demo:
        with session_scope(sqlite_url) as session:
            add_target(session, name="llm-team", base_url=demo.base_url, token=demo.key,
                       kind="openai-chat", model=demo.model)
        report = run_stress("", database_url=sqlite_url, target_name="llm-team", only=["models_list"],
                            bars=TEST_BARS)
        assert (report.suite, report.notes["model"], failed(report)) == ("llm", demo.model, set())
        with pytest.raises(StressError, match="--suite llm"):
            run_stress("", database_url=sqlite_url, target_name="llm-team", suite="classifier")
    with session_scope(sqlite_url) as session:
        assert [r.suite for r in list_stress_runs(session)] == ["llm"]



def test_litellm_proxy_runs_to_the_end(litellm_proxy: LlmServer) -> None:
    """An independent server: the suite runs to the end; what passes and fails is recorded above."""
    proxy = litellm_proxy
    report = run_llm(proxy, llm_request_timeout_s=15.0)
    assert report.status == "finished" and [r.scenario for r in report.results] == LLM_NAMES
    by_name = {r.scenario: r for r in report.results}
    assert {n for n in LITELLM_PASSES if not by_name[n].passed} == set(), summaries(report)
    for name, rows in LITELLM_FAILS.items():
        result = by_name[name]
        assert not result.passed, summaries(report)
        assert {row["label"] for row in result.evidence["cases"] if not row["ok"]} == rows, summaries(report)
    for name in LITELLM_TIMING:  # a verdict with its evidence, whichever it is on this machine
        assert by_name[name].evidence["summary"] and curl_commands(by_name[name].evidence)
    assert proxy.key not in json.dumps(report.to_dict())


def test_without_the_key_the_report_says_to_give_it() -> None:
    with demo_llm_server() as demo:
        report = run_stress(demo.base_url, database_url=None, suite="llm",
                            only=["models_list", "auth_required"], bars=TEST_BARS)
    assert "give the service's key with --token" in report.notes["model_from"]
    models, auth = report.results
    assert not models.passed and "401" in models.summary
    assert not auth.passed and "the key is accepted: 401" in auth.summary  # no key to accept
    assert [row["label"] for row in auth.evidence["cases"] if not row["ok"]] == ["the key is accepted"]
