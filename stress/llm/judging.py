"""Judging one answer of the LLM suite: the classifier suite's rules, the LLM contract's verdicts.

Every crafted answer goes through ``stress.judging.judge_answer`` (a hang, a ``5xx``, leaked
internals, a refusal where an answer was due and the reverse are judged exactly as for a
classifier), with three differences:

- "a valid answer" is ``core.llm_contract.check_completion``'s verdict, the prober's;
- the text the model generated is the model's, not the server's: it is set aside before looking
  for leaks, so a model that writes "/home/user" or "Traceback" is not a leaking server (a
  server's own error text, metadata and status lines are still scanned);
- the key: an answer holding it fails, and a request without a valid key must get 401 or 403.

Schema verdicts belong to ``chat_schema``, ``stream_schema`` and ``models_list`` only; every
other scenario judges behaviour (status, time, leaks), so one defect fails the scenario that
exists to catch it and no other.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import httpx

from core.contract import OK_VERDICT, Outcome, Verdict
from core.llm_contract import SseParser, check_completion
from stress.cases import ACCEPT_2XX, ACCEPT_VALID, JSON_HEADERS, Case
from stress.context import StressContext
from stress.crafted import send_case, sent_request
from stress.evidence import Answer, Failure
from stress.judging import judge_answer
from stress.llm.cases import ACCEPT_AUTH_REFUSED, chat_request
from stress.target import TargetSpec

AUTH_STATUSES = (401, 403)
MAX_REASONS_SHOWN = 3  # schema reasons joined into one verdict line
AFTER_CHECK_TRIES = 3
AFTER_CHECK_PAUSE_S = 1.0


def completion_verdict(case: Case, answer: Answer) -> Verdict | None:
    """``check_completion``'s verdict on a ``200`` when ``case`` asks for a valid completion."""
    if ACCEPT_VALID not in case.accept or answer.status is None:
        return None
    if answer.status != 200:
        return Verdict(Outcome.HTTP_ERROR, f"status {answer.status}")
    problems = check_completion(answer.body)
    if not problems:
        return OK_VERDICT
    return Verdict(Outcome.BAD_BODY, "; ".join(problems[:MAX_REASONS_SHOWN]))


def generated_texts(body: bytes) -> tuple[str, ...]:
    """The text the model generated in a completion or a stream (message or delta content)."""
    texts: list[str] = []

    def take(document: Any, part: str) -> None:
        choices = document.get("choices") if isinstance(document, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            holder = choice.get(part) if isinstance(choice, dict) else None
            content = holder.get("content") if isinstance(holder, dict) else None
            if isinstance(content, str) and content:
                texts.append(content)

    try:
        take(json.loads(body), "message")
    except (ValueError, RecursionError):
        parser = SseParser()
        for event in parser.feed(body) + parser.close():
            if event.done:
                continue
            try:
                take(json.loads(event.data), "delta")
            except (ValueError, RecursionError):
                continue
    # a streamed answer is one text cut into pieces: its joined form is echoed whole too
    return (*texts, "".join(texts)) if len(texts) > 1 else tuple(texts)


def key_may_echo(case: Case) -> bool:
    """Whether an answer to ``case`` must not hold the key: every request but one that itself
    sent the key in a wrong form (echoing what a client sent back to it discloses nothing new)."""
    return case.with_token or not case.auth_shown or "KEY" not in case.auth_shown


def judge_llm_answer(case: Case, answer: Answer, spec: TargetSpec, timeout_s: float) -> str | None:
    """Why ``answer`` is not acceptable for ``case``, or None when it is. Pure."""
    status = answer.status
    if spec.token and key_may_echo(case) and spec.token in answer.body.decode("utf-8", errors="replace"):
        return f"{case.label}: the answer holds the key (a secret must never come back in an answer)"
    if ACCEPT_AUTH_REFUSED in case.accept and status is not None and status < 500:
        if status in AUTH_STATUSES:
            return None
        if 200 <= status < 300:
            return f"{case.label}: answered {status}: the key is not enforced"
        return f"{case.label}: {status} where 401 or 403 was expected"
    if status is not None and 200 <= status < 300:
        case = dataclasses.replace(case, echoes=case.echoes + generated_texts(answer.body))
    return judge_answer(case, answer, spec, timeout_s, verdict_fn=completion_verdict)


def judge_for(ctx: StressContext) -> Any:
    """``stress.crafted.run_cases``'s judge for this target."""

    def judge(case: Case, answer: Answer, timeout_s: float) -> str | None:
        return judge_llm_answer(case, answer, ctx.spec, timeout_s)

    return judge


def after_check(client: httpx.Client, ctx: StressContext) -> Failure | None:
    """After a table of odd requests one ordinary chat request must still be answered (2xx).

    Whether its body is a valid completion is ``chat_schema``'s verdict, not this one's.
    """
    spec = ctx.spec
    case = Case(
        "an ordinary request afterwards",
        body=chat_request(spec, "Are you still there?", max_tokens=ctx.bars.llm_max_tokens),
        headers=JSON_HEADERS,
        accept=frozenset({ACCEPT_2XX}),
    )
    problem, answer = "", None
    timeout_s = ctx.bars.llm_request_timeout_s
    for attempt in range(AFTER_CHECK_TRIES):
        if attempt:
            time.sleep(AFTER_CHECK_PAUSE_S)
        answer = send_case(client, case, spec, timeout_s)
        problem = judge_llm_answer(case, answer, spec, timeout_s) or ""
        if not problem:
            return None
    return Failure(problem, sent_request(case, spec), answer)
