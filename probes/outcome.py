"""Deciding a probe's outcome from what came back: one pure function, no I/O.

Like a Gatus condition list evaluated against a result record, the verdict depends only on
the answer (status, body, transport error), so it is tested with a plain table of cases. What
a correct answer is belongs to ``core.contract``; this adds only the transport failures a
probe can end with before there is an answer to judge.
"""

from __future__ import annotations

from core.contract import (
    CONTRACT_HEALTH_PATH,
    CONTRACT_POINTER,
    Outcome,
    ProbeKind,
    Verdict,
    health_verdict,
    predict_verdict,
    status_reason,
)

REASON_NO_STATUS = "no status"
REASON_TOO_LARGE = "body over the size cap"
# Transport failures whose verdict does not depend on a status line.
NO_ANSWER_OUTCOMES = frozenset(
    {Outcome.TIMEOUT, Outcome.CONNECT_ERROR, Outcome.PROTOCOL_ERROR, Outcome.REFUSED_ADDRESS}
)


def decide_outcome(
    *,
    kind: str,
    status_code: int | None,
    body: bytes | None,
    error: str | None = None,
    error_detail: str | None = None,
    expected_id: str | None = None,
    pointer: str = CONTRACT_POINTER,
    templated: bool = False,
    health_path: str = CONTRACT_HEALTH_PATH,
) -> Verdict:
    """The outcome of one probe from what came back.

    ``error`` is a transport failure (one of ``core.contract.TRANSPORT_OUTCOMES``) or None
    when a full answer arrived; ``body`` is the whole answer body (already capped) or None.
    A full answer is judged by ``core.contract.health_verdict`` or ``predict_verdict``.
    """
    if error in NO_ANSWER_OUTCOMES:
        outcome = Outcome(error)
        return Verdict(outcome, error_detail or outcome.replace("_", " "))
    if status_code is None:
        return Verdict(Outcome.PROTOCOL_ERROR, error_detail or REASON_NO_STATUS)
    if status_code != 200:  # a status is a verdict, whatever happened to the body after it
        return Verdict(Outcome.HTTP_ERROR, status_reason(status_code))
    if error == Outcome.TOO_LARGE:
        return Verdict(Outcome.TOO_LARGE, error_detail or REASON_TOO_LARGE)
    if error is not None:
        return Verdict(Outcome.PROTOCOL_ERROR, error_detail or error)
    if kind == ProbeKind.HEALTH:
        return health_verdict(status_code, body, health_path=health_path)
    return predict_verdict(status_code, body, sent_id=expected_id, pointer=pointer, templated=templated)
