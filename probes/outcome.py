"""Deciding a probe's outcome from what came back: one pure function, no I/O.

Like a Gatus condition list evaluated against a result record, the verdict depends only on
the answer (status, body, transport error), so it is tested with a plain table of cases.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from core.contract import PointerError, resolve_pointer

OK = "ok"
TIMEOUT = "timeout"
CONNECT_ERROR = "connect_error"
HTTP_ERROR = "http_error"
BAD_BODY = "bad_body"
TOO_LARGE = "too_large"
PROTOCOL_ERROR = "protocol_error"
# A self-registered target whose host resolves outside the allowed networks: never sent.
REFUSED_ADDRESS = "refused_address"
OUTCOMES = (OK, TIMEOUT, CONNECT_ERROR, HTTP_ERROR, BAD_BODY, TOO_LARGE, PROTOCOL_ERROR, REFUSED_ADDRESS)
# Transport failures a request can end with before any usable answer.
TRANSPORT_ERRORS = (TIMEOUT, CONNECT_ERROR, PROTOCOL_ERROR, TOO_LARGE, REFUSED_ADDRESS)

HEALTH = "health"
PREDICT = "predict"
KINDS = (HEALTH, PREDICT)
HEALTHY_STATUS = "ok"
ID_FIELD = "id"


@dataclass(frozen=True)
class Verdict:
    """What a probe's answer means for the target."""

    outcome: str  # one of OUTCOMES
    detail: str | None = None  # short reason for a non-ok outcome; never secrets or raw bodies
    probability: float | None = None  # predict probes: the probability read, when valid


def _json(body: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(body.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "body is not UTF-8"
    except (json.JSONDecodeError, RecursionError):
        return None, "body is not JSON"


def decide_outcome(
    *,
    kind: str,
    status_code: int | None,
    body: bytes | None,
    error: str | None = None,
    error_detail: str | None = None,
    expected_id: str | None = None,
    pointer: str = "/probability",
) -> Verdict:
    """The outcome of one probe from what came back.

    ``error`` is a transport failure (one of TRANSPORT_ERRORS) or None when a full answer
    arrived; ``body`` is the whole answer body (already capped) or None. A health probe is
    ok on 200 with a JSON object whose ``status`` is ``"ok"`` (other fields are ignored); a
    predict probe is ok on 200 with a finite number in [0, 1] at ``pointer`` and, when the
    answer carries a top-level ``id``, the id that was sent.
    """
    if error in (TIMEOUT, CONNECT_ERROR, PROTOCOL_ERROR, REFUSED_ADDRESS):
        return Verdict(error, error_detail or error.replace("_", " "))
    if status_code is None:
        return Verdict(PROTOCOL_ERROR, error_detail or "no status")
    if status_code != 200:
        return Verdict(HTTP_ERROR, f"status {status_code}")
    if error == TOO_LARGE:
        return Verdict(TOO_LARGE, error_detail or "body over the size cap")
    if error is not None:
        return Verdict(PROTOCOL_ERROR, error_detail or error)
    if body is None:
        return Verdict(BAD_BODY, "no body")
    document, problem = _json(body)
    if problem:
        return Verdict(BAD_BODY, problem)
    if kind == HEALTH:
        if isinstance(document, dict) and str(document.get("status", "")).lower() == HEALTHY_STATUS:
            return Verdict(OK)
        return Verdict(BAD_BODY, 'health answer is not {"status": "ok"}')
    return _predict_verdict(document, expected_id, pointer)


def _predict_verdict(document: Any, expected_id: str | None, pointer: str) -> Verdict:
    if expected_id is not None and isinstance(document, dict) and ID_FIELD in document:
        got = document[ID_FIELD]
        if isinstance(got, bool) or str(got) != expected_id:
            return Verdict(BAD_BODY, "answer id differs from the id sent")
    try:
        value = resolve_pointer(document, pointer)
    except PointerError:
        return Verdict(BAD_BODY, f"no probability at {pointer[:60]}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Verdict(BAD_BODY, "probability is not a number")
    try:
        probability = float(value)
    except OverflowError:
        return Verdict(BAD_BODY, "probability outside [0, 1]")
    if not math.isfinite(probability):
        return Verdict(BAD_BODY, "probability is not finite")
    if not 0.0 <= probability <= 1.0:
        return Verdict(BAD_BODY, "probability outside [0, 1]")
    return Verdict(OK, None, probability)
