"""Judging one crafted request's answer: the contract's verdict plus what only stress checks.

Whatever the case, these always fail it: no answer within the timeout (a hang), a ``5xx``
(except ``501`` for an unknown method, which RFC 9110 prescribes), a response that leaks
internals (``stress.leaks``), a reflected ``<script>`` in an HTML page, an evaluated template
expression. Whether an answer honours the classifier contract is never decided here:
``contract_verdict`` asks ``core.contract``, the very functions the prober calls, so the
``contract`` scenario and the prober cannot disagree on an answer.
"""

from __future__ import annotations

from collections.abc import Callable

from core.contract import Verdict
from stress.cases import ACCEPT_2XX, ACCEPT_4XX, ACCEPT_501, ACCEPT_CLOSED, ACCEPT_HEALTH, ACCEPT_VALID, Case
from stress.evidence import Answer, describe_error
from stress.leaks import find_leaks, reflected_script
from stress.target import TargetSpec


def contract_verdict(case: Case, answer: Answer, spec: TargetSpec) -> Verdict | None:
    """The contract's verdict on ``answer`` when ``case`` asks for a contract answer, else None.

    A case that may also be refused (bad input: ``REFUSE_OR_VALID``) gets a contract verdict
    for a ``200`` only; its other answers are judged by the refusal rules.
    """
    status = answer.status
    if status is None:
        return None
    if ACCEPT_HEALTH in case.accept:
        return spec.health_verdict(status, answer.body)
    if ACCEPT_VALID not in case.accept:
        return None
    if status != 200 and ACCEPT_4XX in case.accept:
        return None
    return spec.predict_verdict(status, answer.body, case.sent_id)


VerdictFn = Callable[[Case, Answer], Verdict | None]


def judge_answer(
    case: Case, answer: Answer, spec: TargetSpec, timeout_s: float, verdict_fn: VerdictFn | None = None
) -> str | None:
    """Why ``answer`` is not acceptable for ``case``, or None when it is. Pure.

    ``verdict_fn`` decides whether an answer honours the target's contract (None: not a contract
    answer); the default is the classifier contract's (``contract_verdict``). The LLM suite
    passes its own, so every other rule (hangs, 5xx, leaks, refusals) is the same for both.
    """
    if answer.status is None:
        if answer.error == "closed" and ACCEPT_CLOSED in case.accept:
            return None
        if answer.error == "timeout":
            return f"{case.label}: no answer within {timeout_s:g} s"
        return f"{case.label}: no answer ({describe_error(answer.error)})"
    body_text = answer.body.decode("utf-8", errors="replace")
    echoes = case.echoes + ((case.path,) if case.path else ())
    leaks = find_leaks(body_text, echoes)
    if leaks:
        return f"{case.label}: the response leaks internals ({leaks[0].kind}: {leaks[0].excerpt.strip()!r})"
    script = reflected_script(body_text, answer.content_type, echoes)
    if script:
        return f"{case.label}: script injection reflected unescaped in an HTML page ({script!r})"
    for text, why in case.forbidden:
        if text in body_text:
            return f"{case.label}: {why}"
    verdict = verdict_fn(case, answer) if verdict_fn is not None else contract_verdict(case, answer, spec)
    if verdict is not None:
        return None if verdict.ok else f"{case.label}: {verdict.detail}"
    status = answer.status
    if status >= 500:
        if status == 501 and ACCEPT_501 in case.accept:
            return None
        return f"{case.label}: server error {status}"
    if 200 <= status < 300:
        if ACCEPT_2XX in case.accept:
            return None
        return f"{case.label}: {status} where a 4xx refusal was expected"
    if 300 <= status < 500:
        if ACCEPT_4XX in case.accept:
            return None
        return f"{case.label}: {status} where a valid 200 was expected"
    return f"{case.label}: unexpected status {status}"
