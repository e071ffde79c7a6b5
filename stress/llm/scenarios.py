"""The LLM suite's ten scenarios, in the order of DESIGN.md, and the suite itself.

The names are ``core.contract.LlmScenarioName`` (the database stores their values). The
crafted ones run through ``stress.crafted.run_cases`` with the LLM judge; before the first
scenario the suite learns the model to ask for (``prepare``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import httpx

from core.contract import (
    OPENAI_CHAT_PATH,
    OPENAI_HEALTH_PATH,
    OPENAI_MODELS_PATH,
    LlmScenarioName,
    TargetKind,
)
from core.llm_contract import model_ids, warm_up
from stress.bars import Bars
from stress.cases import Case
from stress.client import send_httpx
from stress.context import StressContext
from stress.crafted import run_cases
from stress.evidence import ScenarioResult, SentRequest
from stress.llm import cases as tables
from stress.llm import checks, load
from stress.llm.cases import FALLBACK_MODEL, KEY_PLACEHOLDER, chat_request
from stress.llm.judging import after_check, judge_for
from stress.scenarios import Scenario, Suite
from stress.target import TargetSpec

MODEL_LOOKUP_TIMEOUT_S = 5.0


def _crafted(name: LlmScenarioName, builder: Callable[[StressContext], list[Case]]) -> Callable[
    [StressContext], ScenarioResult
]:
    def run(ctx: StressContext) -> ScenarioResult:
        return run_cases(
            name, ctx, builder(ctx), judge=judge_for(ctx), after_check=after_check,
            request_timeout_s=ctx.bars.llm_request_timeout_s, detailed_rows=True,
        )

    run.__name__ = f"run_{name}"
    return run


LLM_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        LlmScenarioName.CHAT_SCHEMA,
        "non-streamed completions are valid ChatCompletion objects for the official client",
        _crafted(LlmScenarioName.CHAT_SCHEMA, tables.chat_schema_cases),
    ),
    Scenario(
        LlmScenarioName.STREAM_SCHEMA,
        "streamed completions are valid chunk by chunk and end with data: [DONE]",
        checks.run_stream_schema,
    ),
    Scenario(
        LlmScenarioName.MODELS_LIST,
        "GET /v1/models is a list of models the official client accepts",
        checks.run_models_list,
    ),
    Scenario(
        LlmScenarioName.AUTH_REQUIRED,
        "no key, a wrong key and near-misses get 401/403; the key is answered; never echoed",
        _crafted(LlmScenarioName.AUTH_REQUIRED, tables.auth_cases),
    ),
    Scenario(
        LlmScenarioName.BAD_REQUEST,
        "broken JSON, missing or empty messages, wrong roles, max_tokens -1 -> 4xx, never 5xx",
        _crafted(LlmScenarioName.BAD_REQUEST, tables.bad_request_cases),
    ),
    Scenario(
        LlmScenarioName.LONG_PROMPT,
        "a prompt past any context window -> 4xx or a truncated 200 in time, never 5xx or a hang",
        _crafted(LlmScenarioName.LONG_PROMPT, tables.long_prompt_cases),
    ),
    Scenario(
        LlmScenarioName.INJECTION,
        "prompt, model-name and header injection (CRLF sent raw) -> no 5xx, trace, path or key",
        _crafted(LlmScenarioName.INJECTION, tables.injection_cases),
    ),
    Scenario(
        LlmScenarioName.BURST,
        "concurrent streaming clients: no 5xx, no hang, TTFT p95 within the bar",
        load.run_burst,
    ),
    Scenario(
        LlmScenarioName.RECOVERY,
        "after the burst, an ordinary request is answered within the window",
        load.run_recovery,
    ),
    Scenario(
        LlmScenarioName.SLOW_READERS,
        "streams read a few bytes at a time do not stall a normal client's streams",
        load.run_slow_readers,
    ),
)
LLM_SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in LLM_SCENARIOS)


def adapt(spec: TargetSpec) -> TargetSpec:
    """A bare URL stressed with the LLM suite: an openai-chat target with OpenAI's paths."""
    return dataclasses.replace(
        spec, kind=TargetKind.OPENAI_CHAT, predict_path=OPENAI_CHAT_PATH, health_path=OPENAI_HEALTH_PATH,
        auth_placeholder=KEY_PLACEHOLDER,
    )


def preflight_requests(spec: TargetSpec) -> list[SentRequest]:
    """Does anything answer: the health path (when the target has one), the models list, a chat."""
    auth = list(spec.auth_headers().items())
    requests = [SentRequest("GET", spec.url(OPENAI_MODELS_PATH), auth, label="models")]
    if spec.health_path:
        requests.insert(0, SentRequest("GET", spec.url(spec.health_path), auth, label="health"))
    requests.append(SentRequest(
        "POST", spec.url(spec.predict_path), [("Content-Type", "application/json"), *auth],
        body=chat_request(spec, "Is anybody there?", max_tokens=1), label="chat",
    ))
    return requests


def prepare(spec: TargetSpec, bars: Bars) -> tuple[TargetSpec, dict[str, Any]]:
    """The model every request names: given (``--model``), registered, else the first that
    ``GET /v1/models`` lists (read leniently), else ``FALLBACK_MODEL``; the notes say which.

    Also pays the openai types' import (``warm_up``) before the first timed stream."""
    warm_up()  # the openai types' first import, before any stream is timed
    spec = dataclasses.replace(spec, auth_placeholder=KEY_PLACEHOLDER)
    if spec.model:
        return spec, {"model": spec.model, "model_from": "given or registered"}
    request = SentRequest("GET", spec.url(OPENAI_MODELS_PATH), list(spec.auth_headers().items()))
    with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
        answer = send_httpx(client, request, min(MODEL_LOOKUP_TIMEOUT_S, bars.llm_request_timeout_s))
    ids = model_ids(answer.body) if answer.status == 200 else []
    if ids:
        return dataclasses.replace(spec, model=ids[0]), {"model": ids[0], "model_from": OPENAI_MODELS_PATH}
    if answer.status in (401, 403):
        fix = "give the service's key with --token" if not spec.token else "check the key given"
        note = f"{OPENAI_MODELS_PATH} answered {answer.status}: {fix}, or name the model with --model"
    else:
        note = f"{OPENAI_MODELS_PATH} listed no model ({answer.status_key}); name one with --model"
    return dataclasses.replace(spec, model=FALLBACK_MODEL), {"model": FALLBACK_MODEL, "model_from": note}


LLM_SUITE = Suite(
    name="llm",
    kind=TargetKind.OPENAI_CHAT,
    scenarios=LLM_SCENARIOS,
    preflight_requests=preflight_requests,
    adapt=adapt,
    prepare=prepare,
)
