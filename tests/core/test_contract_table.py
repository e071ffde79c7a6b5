"""One table of answers, each with its one verdict, through the prober AND the stress `contract` scenario.

The prober and the stress runner once disagreed on what a correct answer is (issue 14: a
missing id, ``123`` for ``"123"``, ``{"status": "OK"}``, ``1e400``). Every row here is judged
by ``probes.outcome.decide_outcome`` and by the ``contract`` scenario's own cases through
``stress.judging``; both must give the row's verdict and reason, so a disagreement cannot come
back. The last tests do the same over the wire: a real uvicorn server answering each of the
issue's four ways, a real probe and a real ``clfwatch stress run --only contract``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.contract import (
    REASON_HEALTH_BODY,
    REASON_NO_ID,
    REASON_NO_PROBABILITY,
    REASON_NOT_A_NUMBER,
    REASON_NOT_FINITE,
    REASON_NOT_JSON,
    REASON_NOT_UTF8,
    REASON_OUT_OF_RANGE,
    REASON_WRONG_ID,
    Outcome,
    ProbeKind,
    ScenarioName,
    Verdict,
    status_reason,
)
from probes.outcome import decide_outcome
from probes.probe import PreparedTarget, probe_target
from storage.evalset import EvalText
from storage.models import BODY_EXCERPT_MAX_CHARS
from storage.targets import ProbeTarget
from stress.cases import Case, contract_cases
from stress.context import StressContext
from stress.evidence import Answer
from stress.judging import contract_verdict, judge_answer
from stress.scenarios import SCENARIO_NAMES
from stress.target import TargetSpec
from tests.conftest import REPO_ROOT
from tests.servers import uvicorn_thread

SENT_ID = "123"
TIMEOUT_S = 5.0
JSON_CT = {"content-type": "application/json"}
CONTRACT = TargetSpec("http://127.0.0.1:9")
CUSTOM = TargetSpec(
    "http://127.0.0.1:9",
    template='{"inputs": {"q": "{text}", "ref": "{id}"}}',
    probability_pointer="/result/0/score",
    health_path="/healthz",
)
OK, BAD, HTTP = Outcome.OK, Outcome.BAD_BODY, Outcome.HTTP_ERROR
HEALTH, PREDICT = ProbeKind.HEALTH, ProbeKind.PREDICT


def j(value: object) -> bytes:
    return json.dumps(value).encode()


def p(raw: str, answer_id: str = f'"{SENT_ID}"') -> bytes:
    """A predict answer whose probability is the raw JSON text ``raw``."""
    return f'{{"id": {answer_id}, "probability": {raw}}}'.encode()


@dataclass(frozen=True)
class Row:
    what: str
    kind: ProbeKind
    status: int
    body: bytes
    outcome: Outcome
    reason: str | None = None  # None exactly when the outcome is ok
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON_CT))
    spec: TargetSpec = CONTRACT


ROWS = [
    # --- predict, the contract's own shape: valid answers
    Row("valid answer", PREDICT, 200, p("0.25"), OK),
    Row("probability 0", PREDICT, 200, p("0"), OK),
    Row("probability 1", PREDICT, 200, p("1"), OK),
    Row("probability 1.0", PREDICT, 200, p("1.0"), OK),
    Row("probability 1e-300", PREDICT, 200, p("1e-300"), OK),
    Row("probability 1e-400 (below a float's range, still in [0, 1])", PREDICT, 200, p("1e-400"), OK),
    Row("extra fields are ignored", PREDICT, 200, j({"id": SENT_ID, "probability": 0.5, "model": "v2"}), OK),
    Row("valid JSON under text/plain", PREDICT, 200, p("0.5"), OK, headers={"content-type": "text/plain"}),
    Row(
        "duplicate key: the last one counts",
        PREDICT,
        200,
        b'{"id": "123", "probability": 7, "probability": 0.5}',
        OK,
    ),
    # --- the id rule (issue 14 rows: missing id, 123 for "123")
    Row("id missing", PREDICT, 200, j({"probability": 0.5}), BAD, REASON_NO_ID),
    Row('id 123 for the sent id "123"', PREDICT, 200, p("0.5", "123"), BAD, REASON_WRONG_ID),
    Row("another id", PREDICT, 200, p("0.5", '"124"'), BAD, REASON_WRONG_ID),
    Row("id null", PREDICT, 200, p("0.5", "null"), BAD, REASON_WRONG_ID),
    Row("id true", PREDICT, 200, p("0.5", "true"), BAD, REASON_WRONG_ID),
    Row("id with a leading space", PREDICT, 200, p("0.5", '" 123"'), BAD, REASON_WRONG_ID),
    Row("id as a list", PREDICT, 200, p("0.5", '["123"]'), BAD, REASON_WRONG_ID),
    # --- huge numbers give a verdict, never an exception (issue 14 rows: 1e400, 400 digits)
    Row("probability 1e400", PREDICT, 200, p("1e400"), BAD, REASON_OUT_OF_RANGE),
    Row("probability -1e400", PREDICT, 200, p("-1e400"), BAD, REASON_OUT_OF_RANGE),
    Row("probability a 400-digit integer", PREDICT, 200, p("1" + "0" * 400), BAD, REASON_OUT_OF_RANGE),
    Row(
        "probability a 5000-digit integer (past Python's int limit)",
        PREDICT,
        200,
        p("9" * 5000),
        BAD,
        REASON_OUT_OF_RANGE,
    ),
    Row(
        "probability just above 1, below a float's precision",
        PREDICT,
        200,
        p("1.0000000000000000000001"),
        BAD,
        REASON_OUT_OF_RANGE,
    ),
    Row("probability 1.5", PREDICT, 200, p("1.5"), BAD, REASON_OUT_OF_RANGE),
    Row("probability -0.01", PREDICT, 200, p("-0.01"), BAD, REASON_OUT_OF_RANGE),
    # --- not a finite number
    Row("probability NaN", PREDICT, 200, p("NaN"), BAD, REASON_NOT_FINITE),
    Row("probability Infinity", PREDICT, 200, p("Infinity"), BAD, REASON_NOT_FINITE),
    Row("probability -Infinity", PREDICT, 200, p("-Infinity"), BAD, REASON_NOT_FINITE),
    Row("probability as a string", PREDICT, 200, p('"0.5"'), BAD, REASON_NOT_A_NUMBER),
    Row("probability true", PREDICT, 200, p("true"), BAD, REASON_NOT_A_NUMBER),
    Row("probability false", PREDICT, 200, p("false"), BAD, REASON_NOT_A_NUMBER),
    Row("probability null", PREDICT, 200, p("null"), BAD, REASON_NOT_A_NUMBER),
    Row("probability in a list", PREDICT, 200, p("[0.5]"), BAD, REASON_NOT_A_NUMBER),
    Row("probability in an object", PREDICT, 200, p('{"value": 0.5}'), BAD, REASON_NOT_A_NUMBER),
    # --- no probability where the pointer says
    Row("no probability", PREDICT, 200, j({"id": SENT_ID}), BAD, REASON_NO_PROBABILITY),
    Row(
        "Probability with a capital",
        PREDICT,
        200,
        j({"id": SENT_ID, "Probability": 0.5}),
        BAD,
        REASON_NO_PROBABILITY,
    ),
    Row("body is a JSON list", PREDICT, 200, j([0.5]), BAD, REASON_NO_PROBABILITY),
    Row("body is a JSON number", PREDICT, 200, b"0.5", BAD, REASON_NO_PROBABILITY),
    Row("body is JSON null", PREDICT, 200, b"null", BAD, REASON_NO_PROBABILITY),
    # --- not JSON at all
    Row("empty body", PREDICT, 200, b"", BAD, REASON_NOT_JSON),
    Row(
        "an HTML page",
        PREDICT,
        200,
        b"<html>hello</html>",
        BAD,
        REASON_NOT_JSON,
        headers={"content-type": "text/html"},
    ),
    Row("truncated JSON", PREDICT, 200, b'{"id": "123", "probab', BAD, REASON_NOT_JSON),
    Row("JSON after a UTF-8 byte order mark", PREDICT, 200, b"\xef\xbb\xbf" + p("0.5"), BAD, REASON_NOT_JSON),
    Row("nested 100,000 levels deep", PREDICT, 200, b"[" * 100_000 + b"]" * 100_000, BAD, REASON_NOT_JSON),
    Row(
        "bytes that are not UTF-8",
        PREDICT,
        200,
        b'{"id": "123", "probability": 0.5, "x": "\xff"}',
        BAD,
        REASON_NOT_UTF8,
    ),
    # --- any status but 200, whatever the body
    Row("201 with a valid body", PREDICT, 201, p("0.5"), HTTP, status_reason(201)),
    Row("204 no content", PREDICT, 204, b"", HTTP, status_reason(204)),
    Row("301 redirect", PREDICT, 301, b"", HTTP, status_reason(301), headers={"location": "/elsewhere"}),
    Row("404", PREDICT, 404, j({"detail": "Not Found"}), HTTP, status_reason(404)),
    Row("422", PREDICT, 422, j({"detail": "text is required"}), HTTP, status_reason(422)),
    Row("500", PREDICT, 500, j({"detail": "internal error"}), HTTP, status_reason(500)),
    Row("503 with a valid body", PREDICT, 503, p("0.5"), HTTP, status_reason(503)),
    # --- health, the contract's /health (issue 14 row: {"status": "OK"})
    Row("health ok", HEALTH, 200, j({"status": "ok"}), OK),
    Row("health OK in capitals", HEALTH, 200, j({"status": "OK"}), OK),
    Row("health Ok with extra fields", HEALTH, 200, j({"status": "Ok", "model": "v1", "uptime_s": 3}), OK),
    Row("health degraded", HEALTH, 200, j({"status": "degraded"}), BAD, REASON_HEALTH_BODY),
    Row("health 'ok ' with a space", HEALTH, 200, j({"status": "ok "}), BAD, REASON_HEALTH_BODY),
    Row("health status true", HEALTH, 200, j({"status": True}), BAD, REASON_HEALTH_BODY),
    Row("health without status", HEALTH, 200, j({"healthy": True}), BAD, REASON_HEALTH_BODY),
    Row("health as a JSON list", HEALTH, 200, j(["ok"]), BAD, REASON_HEALTH_BODY),
    Row("health as a JSON string", HEALTH, 200, j("ok"), BAD, REASON_HEALTH_BODY),
    Row(
        "health plain text", HEALTH, 200, b"ok", BAD, REASON_NOT_JSON, headers={"content-type": "text/plain"}
    ),
    Row("health empty", HEALTH, 200, b"", BAD, REASON_NOT_JSON),
    Row("health not UTF-8", HEALTH, 200, b'{"status": "\xff"}', BAD, REASON_NOT_UTF8),
    Row("health 503 with an ok body", HEALTH, 503, j({"status": "ok"}), HTTP, status_reason(503)),
    Row("health 204", HEALTH, 204, b"", HTTP, status_reason(204)),
    # --- a target with its own shape: template (no id rule), pointer, health path (any 200)
    Row(
        "custom: score at the pointer, no id", PREDICT, 200, j({"result": [{"score": 0.3}]}), OK, spec=CUSTOM
    ),
    Row(
        "custom: another id is fine", PREDICT, 200, j({"id": 5, "result": [{"score": 0.3}]}), OK, spec=CUSTOM
    ),
    Row(
        "custom: probability not at the pointer",
        PREDICT,
        200,
        j({"probability": 0.3}),
        BAD,
        REASON_NO_PROBABILITY,
        spec=CUSTOM,
    ),
    Row(
        "custom: score as a string",
        PREDICT,
        200,
        j({"result": [{"score": "0.3"}]}),
        BAD,
        REASON_NOT_A_NUMBER,
        spec=CUSTOM,
    ),
    Row(
        "custom: score 1e400",
        PREDICT,
        200,
        b'{"result": [{"score": 1e400}]}',
        BAD,
        REASON_OUT_OF_RANGE,
        spec=CUSTOM,
    ),
    Row(
        "custom health: any 200",
        HEALTH,
        200,
        b"fine",
        OK,
        headers={"content-type": "text/plain"},
        spec=CUSTOM,
    ),
    Row("custom health: 200 saying down", HEALTH, 200, j({"status": "down"}), OK, spec=CUSTOM),
    Row("custom health: 500", HEALTH, 500, b"", HTTP, status_reason(500), spec=CUSTOM),
]


def prober_verdict(row: Row) -> Verdict:
    return decide_outcome(
        kind=row.kind,
        status_code=row.status,
        body=row.body,
        expected_id=SENT_ID,
        pointer=row.spec.probability_pointer,
        templated=row.spec.template is not None,
        health_path=row.spec.health_path,
    )


def scenario_case(row: Row) -> Case:
    """The ``contract`` scenario's own case for this kind of request, sending ``SENT_ID``."""
    cases = contract_cases(StressContext(row.spec))
    if row.kind == HEALTH:
        return cases[0]
    first = cases[1]
    return dataclasses.replace(first, sent_id=SENT_ID, body=row.spec.body("some text", SENT_ID))


def test_the_table_is_big_and_covers_every_reason() -> None:
    assert len(ROWS) >= 40
    assert len({r.what for r in ROWS}) == len(ROWS)
    reasons = {r.reason for r in ROWS if r.outcome == BAD}
    assert reasons == {
        REASON_NO_ID,
        REASON_WRONG_ID,
        REASON_OUT_OF_RANGE,
        REASON_NOT_FINITE,
        REASON_NOT_A_NUMBER,
        REASON_NO_PROBABILITY,
        REASON_NOT_JSON,
        REASON_NOT_UTF8,
        REASON_HEALTH_BODY,
    }


@pytest.mark.parametrize("row", ROWS, ids=[r.what for r in ROWS])
def test_prober_and_contract_scenario_give_the_rows_verdict(row: Row) -> None:
    prober = prober_verdict(row)
    assert (prober.outcome, prober.detail) == (row.outcome, row.reason)
    assert (prober.probability is not None) == (row.kind == PREDICT and row.outcome == OK)

    case = scenario_case(row)
    answer = Answer(row.status, 1.0, row.body, row.headers.get("content-type", ""))
    assert contract_verdict(case, answer, row.spec) == prober  # the very same verdict object
    problem = judge_answer(case, answer, row.spec, TIMEOUT_S)
    assert problem == (None if row.outcome == OK else f"{case.label}: {row.reason}")


def test_scenario_names_are_the_enum_in_order() -> None:
    assert tuple(ScenarioName) == SCENARIO_NAMES
    assert [str(n) for n in ScenarioName][:2] == ["contract", "malformed_json"]


# --- over the wire: a real server answering each of issue 14's four ways -------------

MODES = ("correct", "no_id", "int_id", "health_upper", "prob_1e400", "prob_400_digits")


def odd_classifier(mode: str) -> Starlette:
    """A classifier that answers the contract except in the one way ``mode`` names."""

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "OK" if mode == "health_upper" else "ok"})

    async def predict(request: Request) -> Response:
        sent = str((await request.json())["id"])
        answer_id = json.dumps(sent)
        if mode == "int_id" and sent.isdigit():
            answer_id = sent
        probability = {"prob_1e400": "1e400", "prob_400_digits": "1" + "0" * 400}.get(mode, "0.25")
        if mode == "no_id":
            return Response(f'{{"probability": {probability}}}', media_type="application/json")
        return Response(f'{{"id": {answer_id}, "probability": {probability}}}', media_type="application/json")

    return Starlette(routes=[Route("/health", health), Route("/predict", predict, methods=["POST"])])


EXPECTED = {  # mode -> (health verdict, predict verdict), each (outcome, reason)
    "correct": ((OK, None), (OK, None)),
    "no_id": ((OK, None), (BAD, REASON_NO_ID)),
    "int_id": ((OK, None), (BAD, REASON_WRONG_ID)),
    "health_upper": ((OK, None), (OK, None)),
    "prob_1e400": ((OK, None), (BAD, REASON_OUT_OF_RANGE)),
    "prob_400_digits": ((OK, None), (BAD, REASON_OUT_OF_RANGE)),
}


@pytest.fixture(scope="module", params=MODES)
def odd_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    with uvicorn_thread(odd_classifier(request.param), timeout_graceful_shutdown=1) as url:
        yield request.param, url


async def _probe_both(url: str) -> dict[str, tuple[str, str | None]]:
    target = ProbeTarget(
        id=1,
        name="odd",
        base_url=url,
        predict_path="/predict",
        health_path="/health",
        request_template=None,
        probability_pointer="/probability",
    )
    prepared = PreparedTarget(target, None)
    out = {}
    for kind in (HEALTH, PREDICT):  # a classifier's two probe kinds
        sample = EvalText(id=SENT_ID, text="Are you a bot?") if kind == PREDICT else None
        row = await probe_target(prepared, kind, sample=sample, timeout_s=TIMEOUT_S, cap_bytes=65536)
        out[str(kind)] = (row.outcome, row.detail)
        assert row.body_excerpt is None or len(row.body_excerpt) <= BODY_EXCERPT_MAX_CHARS
    return out


def test_a_real_probe_gives_the_contracts_verdict(odd_server: tuple[str, str]) -> None:
    mode, url = odd_server
    got = asyncio.run(_probe_both(url))
    health, predict = EXPECTED[mode]
    assert got == {"health": health, "predict": predict}


def test_a_real_stress_run_of_contract_gives_the_same_verdict(
    odd_server: tuple[str, str], tmp_path: Path
) -> None:
    mode, url = odd_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'stress.db'}"
    env["DO_NOT_TRACK"] = "1"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "clfwatch.cli",
            "stress",
            "run",
            url,
            "--only",
            "contract",
            "--format",
            "json",
            "--bar",
            "contract_requests=4",
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "Traceback" not in out.stderr and "OverflowError" not in out.stdout + out.stderr
    document = json.loads(out.stdout)
    [result] = document["results"]
    assert result["scenario"] == "contract"
    _health, (outcome, reason) = EXPECTED[mode]
    assert result["passed"] is (outcome == OK), result["evidence"]["summary"]
    assert out.returncode == (0 if outcome == OK else 1), out.stderr
    failure = result["evidence"]["first_failure"]
    if outcome == OK:
        assert failure is None
    else:
        assert failure["reason"] == f"valid request #1: {reason}"
