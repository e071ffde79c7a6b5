"""The classifier contract: what clfwatch sends a target and what counts as a correct answer.

Every rule lives here and nowhere else. The prober (``probes.outcome``), the ten stress
scenarios (``stress.judging``, the Locust job), the team pages and the reference service's
tests all call these functions, so a team can never be graded "up" by one part of clfwatch
and "broken" by another for the same answer. The verdicts are pure functions of what came
back (status and body bytes): they collect a reason, they never raise for anything a target
sends (a 400-digit integer or ``1e400`` is a verdict, not an ``OverflowError``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from core.errors import ClfwatchError

# --- names every part agrees on (the database stores these string values) -------------


class Outcome(StrEnum):
    """The outcome of one probe, as stored in ``probes.outcome``."""

    OK = "ok"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    HTTP_ERROR = "http_error"
    BAD_BODY = "bad_body"
    TOO_LARGE = "too_large"
    PROTOCOL_ERROR = "protocol_error"
    # A self-registered target whose host resolves outside the allowed networks: never sent.
    REFUSED_ADDRESS = "refused_address"
    # An openai-chat target answered 200 to a request without its key or with a wrong one.
    AUTH_NOT_ENFORCED = "auth_not_enforced"


# Transport failures a request can end with before any usable answer.
TRANSPORT_OUTCOMES = frozenset(
    {
        Outcome.TIMEOUT,
        Outcome.CONNECT_ERROR,
        Outcome.PROTOCOL_ERROR,
        Outcome.TOO_LARGE,
        Outcome.REFUSED_ADDRESS,
    }
)


class TargetKind(StrEnum):
    """What a target serves, as stored in ``targets.kind``: it decides the contract it is held to."""

    CLASSIFIER = "classifier"  # this module's contract: a text in, a probability out
    OPENAI_CHAT = "openai-chat"  # an OpenAI-compatible /v1/chat/completions (core.llm_contract)


class ProbeKind(StrEnum):
    """Which route a probe asks, as stored in ``probes.kind``.

    Classifiers get ``health`` and ``predict``; openai-chat targets get ``health`` and ``chat`` (one
    streamed completion, graded on its time to first token) and, now and then, ``auth`` (requests
    without the key and with a wrong one, which must be refused). ``auth`` counts in no grade.
    """

    HEALTH = "health"
    PREDICT = "predict"
    CHAT = "chat"
    AUTH = "auth"


# The probe kinds scheduled every interval, by target kind (``auth`` runs on its own, hourly clock).
SCHEDULED_PROBE_KINDS: dict[str, tuple[ProbeKind, ...]] = {
    TargetKind.CLASSIFIER: (ProbeKind.HEALTH, ProbeKind.PREDICT),
    TargetKind.OPENAI_CHAT: (ProbeKind.HEALTH, ProbeKind.CHAT),
}

# An openai-chat target's routes (OpenAI's API); its health path may be empty: then GET /v1/models.
OPENAI_CHAT_PATH = "/v1/chat/completions"
OPENAI_MODELS_PATH = "/v1/models"
OPENAI_HEALTH_PATH = "/health"

# The probe kinds whose answers are graded as a target's 200-rate and latency, by target kind.
ANSWER_PROBE_KIND = {TargetKind.CLASSIFIER: ProbeKind.PREDICT, TargetKind.OPENAI_CHAT: ProbeKind.CHAT}


class ScenarioName(StrEnum):
    """The ten stress scenarios, in the order of DESIGN.md."""

    CONTRACT = "contract"
    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATIONS = "schema_violations"
    HUGE_PAYLOAD = "huge_payload"
    UNICODE_EDGE = "unicode_edge"
    INJECTION = "injection"
    HTTP_ABUSE = "http_abuse"
    SPIKE = "spike"
    RECOVERY = "recovery"
    SLOW_CLIENTS = "slow_clients"


class LlmScenarioName(StrEnum):
    """The ten stress scenarios of the ``llm`` suite (openai-chat targets), in DESIGN.md's order."""

    CHAT_SCHEMA = "chat_schema"
    STREAM_SCHEMA = "stream_schema"
    MODELS_LIST = "models_list"
    AUTH_REQUIRED = "auth_required"
    BAD_REQUEST = "bad_request"
    LONG_PROMPT = "long_prompt"
    INJECTION = "injection"
    BURST = "burst"
    RECOVERY = "recovery"
    SLOW_READERS = "slow_readers"


# --- the contract's own shape ---------------------------------------------------------

CONTRACT_PREDICT_PATH = "/predict"
CONTRACT_HEALTH_PATH = "/health"
CONTRACT_POINTER = "/probability"
ID_FIELD = "id"
TEXT_FIELD = "text"
STATUS_FIELD = "status"
HEALTHY_STATUS = "ok"  # compared in any letter case
TEXT_PLACEHOLDER = "{text}"
ID_PLACEHOLDER = "{id}"
PLACEHOLDER_PATTERN = re.compile(re.escape(TEXT_PLACEHOLDER) + "|" + re.escape(ID_PLACEHOLDER))

# --- reasons: short fixed phrases, never a body, a token or a hidden label ------------

REASON_NO_BODY = "no body"
REASON_NOT_UTF8 = "body is not UTF-8"
REASON_NOT_JSON = "body is not JSON"
REASON_NO_PROBABILITY = "no probability at the target's pointer"
REASON_NOT_A_NUMBER = "probability is not a number"
REASON_NOT_FINITE = "probability is not finite"
REASON_OUT_OF_RANGE = "probability outside [0, 1]"
REASON_NO_ID = "answer has no id"
REASON_WRONG_ID = "answer id differs from the id sent"
REASON_HEALTH_BODY = 'health answer is not {"status": "ok"}'


def status_reason(status_code: int) -> str:
    """The reason for any status but 200: it names the status, nothing else."""
    return f"status {status_code}"


@dataclass(frozen=True)
class Verdict:
    """What one answer means for the target."""

    outcome: Outcome
    detail: str | None = None  # one of the REASON_* phrases (or status_reason) when not ok
    probability: float | None = None  # predict answers: the probability read, when valid

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK


OK_VERDICT = Verdict(Outcome.OK)

# --- request rendering ----------------------------------------------------------------


class _Drop:
    """The type of ``DROP``."""

    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()  # a value for ``render_document`` meaning "leave this field out"


class TemplateError(ClfwatchError, ValueError):
    """A target's request template is not JSON."""


@lru_cache(maxsize=256)
def _parse_template_cached(template: str) -> Any:
    return json.loads(template)


def parse_template(template: str | None) -> Any:
    """The template as a JSON value, or None for the contract's ``{"id", "text"}`` body.

    Placeholders sit inside JSON strings (the target registry refuses anything else), so the
    template parses as it is and substitution happens on parsed strings, never on raw text:
    a text holding ``"``, ``}``, backslashes or newlines can never change the document's
    shape. The parsed value is shared between calls: never mutate it.
    """
    if template is None:
        return None
    try:
        return _parse_template_cached(template)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"template is not JSON ({exc.msg})") from None


def _as_text(value: Any) -> str:
    if value is DROP:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _substitute(node: str, text: Any, sample_id: Any) -> str:
    # One pass, so a placeholder inside the substituted text is left as it is.
    return PLACEHOLDER_PATTERN.sub(
        lambda m: _as_text(text) if m.group() == TEXT_PLACEHOLDER else _as_text(sample_id), node
    )


def _fill(node: Any, text: Any, sample_id: Any) -> Any:
    if isinstance(node, str):
        if node == TEXT_PLACEHOLDER:
            return text
        if node == ID_PLACEHOLDER:
            return sample_id
        return _substitute(node, text, sample_id)
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            filled = _fill(value, text, sample_id)
            if filled is not DROP:
                out[_substitute(key, text, sample_id)] = filled
        return out
    if isinstance(node, list):
        return [v for v in (_fill(item, text, sample_id) for item in node) if v is not DROP]
    return node


def render_document(
    parsed_template: Any, *, text: Any, sample_id: Any, extra: dict[str, Any] | None = None
) -> Any:
    """The request document: the contract's body, or the template filled in.

    A string that is exactly a placeholder takes the value itself (any JSON value, so the
    stress scenarios can send a number or a list as the text); a placeholder inside a longer
    string (keys included) takes the value as text. ``DROP`` leaves the field out; ``extra``
    adds top-level fields when the document is an object.
    """
    if parsed_template is None:
        document: Any = {k: v for k, v in ((ID_FIELD, sample_id), (TEXT_FIELD, text)) if v is not DROP}
    else:
        document = _fill(parsed_template, text, sample_id)
    if extra and isinstance(document, dict):
        document.update(extra)
    return document


def render_body(parsed_template: Any, *, text: str, sample_id: str) -> bytes:
    """The predict request body for one text, UTF-8 JSON."""
    document = render_document(parsed_template, text=text, sample_id=sample_id)
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


# --- reading answers ------------------------------------------------------------------


class PointerError(ClfwatchError, LookupError):
    """A JSON pointer does not resolve in a document."""


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at RFC 6901 ``pointer`` in ``document``; ``""`` is the whole document.

    Raises PointerError naming the step that failed.
    """
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise PointerError("pointer must start with '/'")
    value = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                raise PointerError(f"no member {token[:40]!r}")
            value = value[token]
        elif isinstance(value, list):
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                raise PointerError("bad array index")
            index = int(token)
            if index >= len(value):
                raise PointerError("array index out of range")
            value = value[index]
        else:
            raise PointerError("pointer goes through a scalar")
    return value


def find_pointer(document: Any, pointer: str) -> Any:
    """Like ``resolve_pointer``, but None where the pointer does not resolve."""
    try:
        return resolve_pointer(document, pointer)
    except PointerError:
        return None


def parse_answer(body: bytes) -> tuple[Any, str | None]:
    """The answer's JSON document and None, or None and the reason it is not one.

    Numbers parse as ``Decimal``: exact, with no int-to-str digit limit (Python 3.11 raises
    ValueError past 4300 digits) and no overflow (``1e400`` stays 1e400, not ``inf``), so a
    huge number is judged as out of range instead of breaking the judge.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, REASON_NOT_UTF8
    try:
        return json.loads(text, parse_int=Decimal, parse_float=Decimal), None
    except (ValueError, RecursionError):
        return None, REASON_NOT_JSON


def probability_problem(value: Any) -> str | None:
    """Why ``value`` is not a probability (a JSON number, finite, in [0, 1]), or None."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        return REASON_NOT_A_NUMBER
    finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
    if not finite:
        return REASON_NOT_FINITE
    if not 0 <= value <= 1:
        return REASON_OUT_OF_RANGE
    return None


def valid_probability(value: Any) -> bool:
    """A JSON number in [0, 1]; booleans, NaN, infinities and strings are not probabilities."""
    return probability_problem(value) is None


# --- the verdicts ---------------------------------------------------------------------


def predict_verdict(
    status_code: int,
    body: bytes | None,
    *,
    sent_id: str | None,
    pointer: str = CONTRACT_POINTER,
    templated: bool = False,
) -> Verdict:
    """The verdict on one complete answer to a predict request.

    Ok is: status 200, a UTF-8 JSON body, at ``pointer`` a JSON number (not a boolean, not a
    string) that is finite and in [0, 1]; and, for the contract's own body (``templated``
    false) when a string id was sent, a top-level ``id`` that is that same string (a missing
    id, or ``123`` for ``"123"``, is a bad body). A templated target has no id rule.
    """
    if status_code != 200:
        return Verdict(Outcome.HTTP_ERROR, status_reason(status_code))
    if body is None:
        return Verdict(Outcome.BAD_BODY, REASON_NO_BODY)
    document, problem = parse_answer(body)
    if problem:
        return Verdict(Outcome.BAD_BODY, problem)
    try:
        value = resolve_pointer(document, pointer)
    except PointerError:
        return Verdict(Outcome.BAD_BODY, REASON_NO_PROBABILITY)
    problem = probability_problem(value)
    if problem:
        return Verdict(Outcome.BAD_BODY, problem)
    if not templated and sent_id is not None:
        if not isinstance(document, dict) or ID_FIELD not in document:
            return Verdict(Outcome.BAD_BODY, REASON_NO_ID)
        got = document[ID_FIELD]
        if not isinstance(got, str) or got != sent_id:
            return Verdict(Outcome.BAD_BODY, REASON_WRONG_ID)
    return Verdict(Outcome.OK, None, float(value))


def health_verdict(
    status_code: int, body: bytes | None, *, health_path: str = CONTRACT_HEALTH_PATH
) -> Verdict:
    """The verdict on one complete answer to a health request.

    For the contract's ``/health``: status 200 and a JSON object whose ``status`` is the
    string ``"ok"`` in any letter case (other fields are ignored). A target with a health
    path of its own: any 200.
    """
    if status_code != 200:
        return Verdict(Outcome.HTTP_ERROR, status_reason(status_code))
    if health_path != CONTRACT_HEALTH_PATH:
        return OK_VERDICT
    if body is None:
        return Verdict(Outcome.BAD_BODY, REASON_NO_BODY)
    document, problem = parse_answer(body)
    if problem:
        return Verdict(Outcome.BAD_BODY, problem)
    status = document.get(STATUS_FIELD) if isinstance(document, dict) else None
    if isinstance(status, str) and status.lower() == HEALTHY_STATUS:
        return OK_VERDICT
    return Verdict(Outcome.BAD_BODY, REASON_HEALTH_BODY)
