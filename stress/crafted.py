"""Running the seven crafted-request scenarios: send every case, judge each, check health after.

The cases are ``stress.cases``, the verdict on each answer ``stress.judging``. After the table
the service must still answer ``/health`` and a valid predict: a server that refuses bad
input and then dies has not survived it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from core.contract import ScenarioName
from stress import cases as tables
from stress.cases import ACCEPT_HEALTH, ACCEPT_VALID, Case
from stress.client import send_httpx, send_raw
from stress.context import StressContext
from stress.evidence import Answer, Failure, ScenarioResult, SentRequest, curl_command
from stress.judging import judge_answer
from stress.target import TargetSpec

log = logging.getLogger(__name__)

AFTER_CHECK_TRIES = 3
AFTER_CHECK_PAUSE_S = 1.0


def sent_request(case: Case, spec: TargetSpec) -> SentRequest:
    path = case.path if case.path is not None else spec.predict_path
    auth = list(spec.auth_headers().items()) if case.with_token else []
    headers = list(case.headers) + auth
    if case.raw_head is not None:
        return SentRequest(
            case.method,
            spec.url(path),
            headers,
            body=case.body,
            body_shell=case.body_shell,
            raw=case.raw_head + (case.body or b""),
            label=case.label,
            auth_placeholder=case.auth_shown or spec.auth_placeholder,
        )
    return SentRequest(
        case.method, spec.url(path), headers, body=case.body, body_shell=case.body_shell, label=case.label,
        auth_placeholder=case.auth_shown or spec.auth_placeholder,
    )


def raw_head_for(
    spec: TargetSpec, method: str, path: str, headers: list[tuple[str, str]], body_len: int | None
) -> bytes:
    """A plain HTTP/1.1 head for ``send_raw``, with Host, the token and Connection: close."""
    lines = [f"{method} {spec.raw_path(path)} HTTP/1.1", f"Host: {spec.host_header}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body_len is not None:
        lines.append(f"Content-Length: {body_len}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send_case(client: httpx.Client, case: Case, spec: TargetSpec, timeout_s: float) -> Answer:
    request = sent_request(case, spec)
    if case.raw_head is not None:
        head = case.raw_head
        if case.with_token and spec.token and b" HTTP/1." in head and b"\nauthorization:" not in head.lower():
            head = head.replace(b"\r\n", f"\r\nAuthorization: Bearer {spec.token}\r\n".encode(), 1)
        return send_raw(spec.host, spec.port, head, case.body or b"", timeout_s=timeout_s, tls=spec.is_https)
    if case.via_raw:
        path = case.path if case.path is not None else spec.predict_path
        head = raw_head_for(
            spec, case.method, path, request.headers, len(case.body) if case.body is not None else None
        )
        return send_raw(spec.host, spec.port, head, case.body or b"", timeout_s=timeout_s, tls=spec.is_https)
    return send_httpx(client, request, timeout_s)


Judge = Callable[[Case, Answer, float], str | None]
AfterCheck = Callable[[httpx.Client, StressContext], Failure | None]


def run_cases(
    name: str,
    ctx: StressContext,
    cases: list[Case],
    *,
    judge: Judge | None = None,
    after_check: AfterCheck | None = None,
    request_timeout_s: float | None = None,
    detailed_rows: bool = False,
) -> ScenarioResult:
    """Send every case (within the scenario's time budget), judge each, then check health.

    The defaults are the classifier suite's: ``judge_answer`` with the contract's verdict, and
    health plus one valid predict afterwards. Another suite passes its own ``judge`` and
    ``after_check`` (and its request timeout); ``detailed_rows`` gives every case's row its
    reason and its curl line, so each case is evidence of its own.
    """
    bars = ctx.bars
    spec = ctx.spec
    judge = judge or (lambda case, answer, timeout_s: judge_answer(case, answer, spec, timeout_s))
    after_check = after_check or _after_check
    default_timeout_s = request_timeout_s or bars.request_timeout_s
    started = time.monotonic()
    deadline = started + bars.scenario_max_s
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    failure: Failure | None = None
    failed = 0
    rows: list[dict[str, Any]] = []
    with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
        for index, case in enumerate(cases):
            if time.monotonic() > deadline:
                summary = (
                    f"time budget of {bars.scenario_max_s:g} s spent after {index} of {len(cases)} requests"
                )
                return _result(name, False, summary, counts, latencies, failure, rows, started, bars, failed,
                               timeout_s=default_timeout_s)
            timeout_s = case.timeout_s or default_timeout_s
            answer = send_case(client, case, spec, timeout_s)
            counts[answer.status_key] += 1
            if answer.status is not None and answer.latency_ms is not None:  # answered requests only
                latencies.append(answer.latency_ms)
            problem = judge(case, answer, timeout_s)
            row: dict[str, Any] = {"label": case.label, "status": answer.status_key, "ok": problem is None}
            if detailed_rows:
                row["reason"] = problem
                row["latency_ms"] = answer.latency_ms
                row["curl"] = curl_command(sent_request(case, spec))
            rows.append(row)
            if problem:
                failed += 1
                if failure is None:
                    failure = Failure(problem, sent_request(case, spec), answer)
        after = after_check(client, ctx)
    if after is not None and failure is None:
        failure = after
        failed += 1
    if failure is None:
        summary = f"all {len(cases)} requests answered acceptably; healthy afterwards"
        return _result(name, True, summary, counts, latencies, None, rows, started, bars, failed,
                       timeout_s=default_timeout_s)
    summary = f"{failed} of {len(cases)} requests not acceptable; first: {failure.reason}"
    if failure is after:  # every request was fine; only the check afterwards failed
        summary = f"not healthy afterwards: {after.reason}"
    return _result(name, False, summary, counts, latencies, failure, rows, started, bars, failed,
                   timeout_s=default_timeout_s)


def _result(
    name: str,
    passed: bool,
    summary: str,
    counts: Counter[str],
    latencies: list[float],
    failure: Failure | None,
    rows: list[dict[str, Any]],
    started: float,
    bars: Any,
    failed: int,
    timeout_s: float | None = None,
) -> ScenarioResult:
    return ScenarioResult(
        scenario=name,
        passed=passed,
        summary=summary,
        status_counts=counts,
        latencies_ms=latencies,
        failure=failure,
        duration_s=time.monotonic() - started,
        bars={"request_timeout_s": timeout_s or bars.request_timeout_s},
        extra={"failed_requests": failed, "cases": rows},
    )


def _after_check(client: httpx.Client, ctx: StressContext) -> Failure | None:
    """Health and one valid predict must work again within a few seconds."""
    spec = ctx.spec
    checks = [
        Case(
            "health afterwards",
            method="GET",
            path=spec.health_path,
            headers=(),
            accept=frozenset({ACCEPT_HEALTH}),
        ),
        Case(
            "valid predict afterwards",
            body=spec.body("Is this service still fine?", "after-0"),
            accept=frozenset({ACCEPT_VALID}),
            sent_id="after-0",
        ),
    ]
    for case in checks:
        problem, answer = "", None
        for attempt in range(AFTER_CHECK_TRIES):
            if attempt:
                time.sleep(AFTER_CHECK_PAUSE_S)
            answer = send_case(client, case, spec, ctx.bars.request_timeout_s)
            problem = judge_answer(case, answer, spec, ctx.bars.request_timeout_s) or ""
            if not problem:
                break
        if problem:
            return Failure(problem, sent_request(case, spec), answer)
    return None


ScenarioFn = Callable[[StressContext], ScenarioResult]


def _scenario(name: ScenarioName, builder: Callable[[StressContext], list[Case]]) -> ScenarioFn:
    def run(ctx: StressContext) -> ScenarioResult:
        return run_cases(name, ctx, builder(ctx))

    run.__name__ = f"run_{name}"
    return run


run_contract = _scenario(ScenarioName.CONTRACT, tables.contract_cases)
run_malformed_json = _scenario(ScenarioName.MALFORMED_JSON, tables.malformed_json_cases)
run_schema_violations = _scenario(ScenarioName.SCHEMA_VIOLATIONS, tables.schema_violation_cases)
run_huge_payload = _scenario(ScenarioName.HUGE_PAYLOAD, tables.huge_payload_cases)
run_unicode_edge = _scenario(ScenarioName.UNICODE_EDGE, tables.unicode_edge_cases)
run_injection = _scenario(ScenarioName.INJECTION, tables.injection_cases)
run_http_abuse = _scenario(ScenarioName.HTTP_ABUSE, tables.http_abuse_cases)
