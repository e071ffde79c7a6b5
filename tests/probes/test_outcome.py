"""The outcome of a probe is a pure function of what came back: a table of cases."""

from __future__ import annotations

import json

import pytest

from core.contract import REASON_NO_ID, Outcome, PointerError, resolve_pointer
from probes.outcome import decide_outcome

CAP = 4096
BAD_BODY, CONNECT_ERROR, HTTP_ERROR = Outcome.BAD_BODY, Outcome.CONNECT_ERROR, Outcome.HTTP_ERROR
OK = Outcome.OK
PROTOCOL_ERROR, TIMEOUT, TOO_LARGE = Outcome.PROTOCOL_ERROR, Outcome.TIMEOUT, Outcome.TOO_LARGE


def j(value: object) -> bytes:
    return json.dumps(value).encode()


PREDICT_CASES = [
    # (case, status, body, error, expected outcome, expected probability)
    ("valid", 200, j({"id": "a", "probability": 0.25}), None, OK, 0.25),
    ("zero", 200, j({"id": "a", "probability": 0}), None, OK, 0.0),
    ("one", 200, j({"id": "a", "probability": 1}), None, OK, 1.0),
    ("extra fields", 200, j({"id": "a", "probability": 0.5, "model": "v2"}), None, OK, 0.5),
    ("no id echoed", 200, j({"probability": 0.5}), None, BAD_BODY, None),
    ("id as number for a numeric id", 200, j({"id": 1, "probability": 0.5}), None, BAD_BODY, None),
    ("wrong id", 200, j({"id": "b", "probability": 0.5}), None, BAD_BODY, None),
    ("id as bool", 200, j({"id": True, "probability": 0.5}), None, BAD_BODY, None),
    ("not json", 200, b"<html>oops</html>", None, BAD_BODY, None),
    ("empty body", 200, b"", None, BAD_BODY, None),
    ("not utf-8", 200, b"\xff\xfe\x00", None, BAD_BODY, None),
    ("missing probability", 200, j({"id": "a"}), None, BAD_BODY, None),
    ("probability string", 200, j({"id": "a", "probability": "0.5"}), None, BAD_BODY, None),
    ("probability null", 200, j({"id": "a", "probability": None}), None, BAD_BODY, None),
    ("probability bool", 200, j({"id": "a", "probability": True}), None, BAD_BODY, None),
    ("probability above 1", 200, j({"id": "a", "probability": 1.5}), None, BAD_BODY, None),
    ("probability below 0", 200, j({"id": "a", "probability": -0.01}), None, BAD_BODY, None),
    ("probability NaN", 200, b'{"id": "a", "probability": NaN}', None, BAD_BODY, None),
    ("probability Infinity", 200, b'{"id": "a", "probability": Infinity}', None, BAD_BODY, None),
    ("probability huge int", 200, b'{"id": "a", "probability": 1' + b"0" * 400 + b"}", None, BAD_BODY, None),
    ("json list", 200, j([0.5]), None, BAD_BODY, None),
    ("json scalar", 200, b"0.5", None, BAD_BODY, None),
    ("server error", 500, j({"detail": "boom"}), None, HTTP_ERROR, None),
    ("client error", 422, j({"detail": "bad"}), None, HTTP_ERROR, None),
    ("redirect", 307, b"", None, HTTP_ERROR, None),
    ("201 is not 200", 201, j({"id": "a", "probability": 0.5}), None, HTTP_ERROR, None),
    ("timeout", None, None, TIMEOUT, TIMEOUT, None),
    ("refused", None, None, CONNECT_ERROR, CONNECT_ERROR, None),
    ("garbled http", None, None, PROTOCOL_ERROR, PROTOCOL_ERROR, None),
    ("too large 200", 200, None, TOO_LARGE, TOO_LARGE, None),
    ("too large 500 is an http error", 500, None, TOO_LARGE, HTTP_ERROR, None),
    ("no status no error", None, None, None, PROTOCOL_ERROR, None),
]


@pytest.mark.parametrize(("case", "status", "body", "error", "outcome", "probability"), PREDICT_CASES)
def test_predict_outcome(
    case: str, status: int | None, body: bytes | None, error: str | None, outcome: str,
    probability: float | None,
) -> None:
    verdict = decide_outcome(kind="predict", status_code=status, body=body, error=error, expected_id="a")
    assert verdict.outcome == outcome, case
    assert verdict.probability == probability
    assert (verdict.detail is None) == (outcome == OK)


def test_http_error_detail_names_the_status() -> None:
    verdict = decide_outcome(kind="predict", status_code=503, body=b"", expected_id="a")
    assert verdict.detail == "status 503"


def test_the_id_rule_is_the_contract_bodys_only() -> None:
    """A missing id is a bad body for the contract's shape; a templated target has no id rule."""
    body = j({"probability": 0.5})
    contract = decide_outcome(kind="predict", status_code=200, body=body, expected_id="a")
    assert (contract.outcome, contract.detail) == (BAD_BODY, REASON_NO_ID)
    templated = decide_outcome(kind="predict", status_code=200, body=body, expected_id="a", templated=True)
    assert (templated.outcome, templated.probability) == (OK, 0.5)


def test_own_health_path_takes_any_200() -> None:
    plain = decide_outcome(kind="health", status_code=200, body=b"fine", health_path="/healthz")
    assert plain.outcome == OK
    assert decide_outcome(kind="health", status_code=200, body=b"fine").outcome == BAD_BODY
    down = decide_outcome(kind="health", status_code=503, body=b"", health_path="/healthz")
    assert down.outcome == HTTP_ERROR


HEALTH_CASES = [
    ("contract", 200, j({"status": "ok"}), OK),
    ("extra fields", 200, j({"status": "ok", "model": "v1", "uptime_s": 3}), OK),
    ("upper case", 200, j({"status": "OK"}), OK),
    ("status not ok", 200, j({"status": "degraded"}), BAD_BODY),
    ("no status", 200, j({"healthy": True}), BAD_BODY),
    ("plain text", 200, b"ok", BAD_BODY),
    ("list", 200, j(["ok"]), BAD_BODY),
    ("503", 503, j({"status": "ok"}), HTTP_ERROR),
    ("401", 401, j({"detail": "unauthorized"}), HTTP_ERROR),
]


@pytest.mark.parametrize(("case", "status", "body", "outcome"), HEALTH_CASES)
def test_health_outcome(case: str, status: int, body: bytes, outcome: str) -> None:
    assert decide_outcome(kind="health", status_code=status, body=body).outcome == outcome, case


POINTER_CASES = [
    ({"probability": 0.3}, "/probability", 0.3),
    ({"a": {"b": [0, {"c": 0.7}]}}, "/a/b/1/c", 0.7),
    ({"a/b": 0.1}, "/a~1b", 0.1),
    ({"m~n": 0.2}, "/m~0n", 0.2),
    ({"": 0.4}, "/", 0.4),
    (0.9, "", 0.9),
]


@pytest.mark.parametrize(("doc", "pointer", "value"), POINTER_CASES)
def test_resolve_pointer(doc: object, pointer: str, value: float) -> None:
    assert resolve_pointer(doc, pointer) == value


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [({"a": 1}, "/b"), ({"a": [1]}, "/a/1"), ({"a": [1]}, "/a/01"), ({"a": [1]}, "/a/-"), ({"a": 1}, "/a/b"),
     ({"a": 1}, "a")],
)
def test_resolve_pointer_misses(doc: object, pointer: str) -> None:
    with pytest.raises(PointerError):
        resolve_pointer(doc, pointer)


def test_custom_pointer_in_verdict() -> None:
    body = j({"id": "a", "result": [{"p": 0.8}]})
    verdict = decide_outcome(
        kind="predict", status_code=200, body=body, expected_id="a", pointer="/result/0/p"
    )
    assert (verdict.outcome, verdict.probability) == (OK, 0.8)
    missing = decide_outcome(
        kind="predict", status_code=200, body=body, expected_id="a", pointer="/result/1/p"
    )
    assert missing.outcome == BAD_BODY
