"""The two scenarios that check the shape of what a client reads, beside ``chat_schema``:
``models_list`` (``GET /v1/models``) and ``stream_schema`` (streamed completions).

Both judge with ``core.llm_contract``, the prober's verdicts, and keep a curl line for every
request, passed or not, so a team can replay exactly what was judged.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx

from core.contract import OPENAI_MODELS_PATH, LlmScenarioName
from core.llm_contract import check_models, model_ids, pick_prompt
from stress.cases import ACCEPT_2XX, Case
from stress.client import send_httpx
from stress.context import StressContext
from stress.evidence import Failure, ScenarioResult, SentRequest, curl_command, describe_error
from stress.llm.cases import SCHEMA_PROMPT_TARGET, chat_request
from stress.llm.judging import MAX_REASONS_SHOWN, judge_llm_answer
from stress.llm.streaming import StreamResult, stream_chat

MODELS_SHOWN = 10  # model ids kept in the evidence
STREAM_PROMPT_OFFSET = 100  # stream_schema's prompts are not chat_schema's


def run_models_list(ctx: StressContext) -> ScenarioResult:
    """``GET /v1/models`` must be a list of models the official client accepts."""
    spec, bars = ctx.spec, ctx.bars
    started = time.monotonic()
    request = SentRequest(
        "GET", spec.url(OPENAI_MODELS_PATH), list(spec.auth_headers().items()),
        label=f"GET {OPENAI_MODELS_PATH}", auth_placeholder=spec.auth_placeholder,
    )
    timeout_s = bars.llm_request_timeout_s
    with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
        answer = send_httpx(client, request, timeout_s)
    counts = Counter({answer.status_key: 1})
    case = Case(
        request.label, method="GET", path=OPENAI_MODELS_PATH, headers=(), accept=frozenset({ACCEPT_2XX})
    )
    problem = judge_llm_answer(case, answer, spec, timeout_s)
    problems: list[str] = []
    if problem is None and answer.status == 200:
        problems = check_models(answer.body)
        if problems:
            problem = f"{request.label}: {'; '.join(problems[:MAX_REASONS_SHOWN])}"
    ids = model_ids(answer.body) if answer.status == 200 else []
    if problem is None:
        summary = f"{request.label} lists {len(ids)} model(s), each valid for the official client"
    else:
        summary = problem
    return ScenarioResult(
        LlmScenarioName.MODELS_LIST,
        problem is None,
        summary,
        counts,
        latencies_ms=[answer.latency_ms] if answer.status is not None and answer.latency_ms else [],
        failure=None if problem is None else Failure(problem, request, answer),
        duration_s=time.monotonic() - started,
        bars={"request_timeout_s": timeout_s},
        extra={"problems": problems, "models": ids[:MODELS_SHOWN], "curl": curl_command(request)},
    )


def stream_problem(label: str, result: StreamResult, timeout_s: float) -> str | None:
    """Why one streamed answer is not a valid stream, or None."""
    if result.status is None:
        return f"{label}: no answer ({describe_error(result.error)})"
    if result.timed_out:
        return f"{label}: the stream had not ended after {timeout_s:g} s"
    if result.status != 200:
        return f"{label}: status {result.status}"
    verdict = result.verdict
    if verdict is not None and verdict.problems:
        cut = " (the connection closed mid-answer)" if result.cut else ""
        return f"{label}: {'; '.join(verdict.problems[:MAX_REASONS_SHOWN])}{cut}"
    return None


def stream_row(label: str, result: StreamResult, problem: str | None, request: SentRequest) -> dict[str, Any]:
    """One stream as a row of evidence: what came, how fast, and how to replay it."""
    verdict = result.verdict
    return {
        "label": label,
        "status": result.status_key,
        "ok": problem is None,
        "reason": problem,
        "ttft_ms": round(verdict.ttft_ms, 1) if verdict and verdict.ttft_ms is not None else None,
        "e2e_ms": result.latency_ms,
        "chunks": verdict.chunks if verdict else None,
        "content_chunks": verdict.content_chunks if verdict else None,
        "saw_done": verdict.saw_done if verdict else None,
        "output_tokens": verdict.output_tokens if verdict else None,
        "tokens_source": verdict.tokens_source if verdict else None,
        "problems": verdict.problems if verdict else [],
        "curl": curl_command(request),
    }


def stream_request(ctx: StressContext, label: str, body: bytes) -> SentRequest:
    spec = ctx.spec
    headers = [("Content-Type", "application/json"), *spec.auth_headers().items()]
    return SentRequest(
        "POST", spec.url(spec.predict_path), headers, body=body, label=label,
        auth_placeholder=spec.auth_placeholder,
    )


def run_stream_schema(ctx: StressContext) -> ScenarioResult:
    """Streamed completions must be valid chunk by chunk and end with ``data: [DONE]``."""
    spec, bars = ctx.spec, ctx.bars
    started = time.monotonic()
    timeout_s = bars.llm_request_timeout_s
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    rows: list[dict[str, Any]] = []
    failure: Failure | None = None
    with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
        for i in range(bars.llm_schema_requests):
            label = f"stream #{i + 1}"
            prompt = pick_prompt(SCHEMA_PROMPT_TARGET, STREAM_PROMPT_OFFSET + i)
            request = stream_request(ctx, label, chat_request(spec, prompt, max_tokens=bars.llm_max_tokens,
                                                              stream=True))
            result = stream_chat(client, request.url, request.headers, request.body or b"", timeout_s)
            counts[result.status_key] += 1
            if result.status is not None and result.latency_ms is not None:
                latencies.append(result.latency_ms)
            case = Case(label, accept=frozenset({ACCEPT_2XX}))
            problem = judge_llm_answer(case, result.answer(), spec, timeout_s) if result.status else None
            problem = problem or stream_problem(label, result, timeout_s)
            rows.append(stream_row(label, result, problem, request))
            if problem and failure is None:
                failure = Failure(problem, request, result.answer())
    failed = sum(1 for row in rows if not row["ok"])
    if failure is None:
        ttfts = [row["ttft_ms"] for row in rows if row["ttft_ms"] is not None]
        summary = (
            f"all {len(rows)} streams valid chunk by chunk and ended with data: [DONE]"
            + (f"; TTFT {min(ttfts):g}-{max(ttfts):g} ms" if ttfts else "")
        )
    else:
        summary = f"{failed} of {len(rows)} streams not valid; first: {failure.reason}"
    return ScenarioResult(
        LlmScenarioName.STREAM_SCHEMA,
        failure is None,
        summary,
        counts,
        latencies_ms=latencies,
        failure=failure,
        duration_s=time.monotonic() - started,
        bars={"request_timeout_s": timeout_s, "max_tokens": bars.llm_max_tokens},
        extra={"failed_requests": failed, "streams": rows},
    )
