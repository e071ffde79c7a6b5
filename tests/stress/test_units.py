"""Pure parts of stress/: verdict rules, curl lines, bars, safety, request shapes."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from core.contract import find_pointer
from stress.bars import DEFAULT_BARS, BarsError, parse_bar_overrides
from stress.cases import (
    ACCEPT_501,
    ACCEPT_CLOSED,
    ACCEPT_HEALTH,
    ACCEPT_VALID,
    REFUSE,
    REFUSE_OR_VALID,
    Case,
    huge_payload_cases,
    schema_violation_cases,
)
from stress.client import connect_error_kind
from stress.context import StressContext
from stress.evidence import (
    Answer,
    SentRequest,
    curl_command,
    excerpt,
    outcome_counts,
    percentiles_from_histogram,
    percentiles_ms,
)
from stress.runner import StressError, check_url, is_loopback_host, parse_only, resolve_spec
from stress.scenarios import SCENARIO_NAMES, SCENARIOS
from stress.target import DROP, TargetSpec

SPEC = TargetSpec("http://127.0.0.1:9")
VALID = b'{"id": "a-1", "probability": 0.25}'


def _judge(case: Case, answer: Answer, spec: TargetSpec = SPEC) -> str | None:
    from stress.judging import judge_answer

    return judge_answer(case, answer, spec, 3.0)


JUDGE_TABLE = [
    # (what, accepted, answer, acceptable?)
    ("4xx refusal", REFUSE, Answer(400, 1.0, b'{"detail":"bad"}'), True),
    ("413 refusal", REFUSE_OR_VALID, Answer(413, 1.0, b""), True),
    ("redirect counts as refused", REFUSE, Answer(307, 1.0, b""), True),
    ("500 on bad input", REFUSE, Answer(500, 1.0, b'{"detail":"internal error"}'), False),
    ("502", REFUSE_OR_VALID, Answer(502, 1.0, b""), False),
    ("501 for an unknown method", frozenset({"4xx", ACCEPT_501}), Answer(501, 1.0, b""), True),
    ("501 where not allowed", REFUSE, Answer(501, 1.0, b""), False),
    ("200 where refusal expected", REFUSE, Answer(200, 1.0, VALID), False),
    ("valid 200", REFUSE_OR_VALID, Answer(200, 1.0, VALID), True),
    ("200 with the wrong id", REFUSE_OR_VALID, Answer(200, 1.0, b'{"id": "zz", "probability": 0.2}'), False),
    ("200 probability 1.5", REFUSE_OR_VALID, Answer(200, 1.0, b'{"id": "a-1", "probability": 1.5}'), False),
    (
        "200 probability as string",
        REFUSE_OR_VALID,
        Answer(200, 1.0, b'{"id": "a-1", "probability": "0.5"}'),
        False,
    ),
    ("200 probability true", REFUSE_OR_VALID, Answer(200, 1.0, b'{"id": "a-1", "probability": true}'), False),
    ("200 not JSON", REFUSE_OR_VALID, Answer(200, 1.0, b"<html>ok</html>"), False),
    ("422 where valid 200 expected", frozenset({ACCEPT_VALID}), Answer(422, 1.0, b""), False),
    ("hang", REFUSE, Answer(None, None, error="timeout"), False),
    ("connection refused", REFUSE, Answer(None, None, error="refused"), False),
    ("could not connect", REFUSE, Answer(None, None, error="connect_error"), False),
    (
        "closed on garbage, allowed",
        frozenset({"4xx", ACCEPT_CLOSED}),
        Answer(None, None, error="closed"),
        True,
    ),
    ("closed where an answer is due", REFUSE, Answer(None, None, error="closed"), False),
    ("4xx with a traceback", REFUSE, Answer(400, 1.0, b"Traceback (most recent call last):"), False),
    ("4xx with SQL error", REFUSE, Answer(400, 1.0, b'{"detail": "SQLSTATE 42601"}'), False),
    ("health ok", frozenset({ACCEPT_HEALTH}), Answer(200, 1.0, b'{"status": "ok"}'), True),
    ("health not ok", frozenset({ACCEPT_HEALTH}), Answer(200, 1.0, b'{"status": "degraded"}'), False),
    ("health 503", frozenset({ACCEPT_HEALTH}), Answer(503, 1.0, b""), False),
]


@pytest.mark.parametrize(("what", "accept", "answer", "ok"), JUDGE_TABLE, ids=[r[0] for r in JUDGE_TABLE])
def test_judge_answer(what: str, accept: frozenset[str], answer: Answer, ok: bool) -> None:
    problem = _judge(Case(what, accept=accept, sent_id="a-1"), answer)
    assert (problem is None) is ok, problem


def test_echoed_injection_is_not_a_leak_but_evaluated_template_fails() -> None:
    payload = "' UNION SELECT password FROM users --"
    echo = json.dumps({"detail": "bad", "input": payload}).encode()
    assert _judge(Case("sql", accept=REFUSE, echoes=(payload,)), Answer(422, 1.0, echo)) is None
    evaluated = Case("tpl", accept=REFUSE_OR_VALID, sent_id="a-1", forbidden=(("1787569", "evaluated"),))
    assert "evaluated" in (
        _judge(evaluated, Answer(200, 1.0, b'{"id":"a-1","probability":0.1,"x":1787569}')) or ""
    )


def test_script_reflected_in_html_fails() -> None:
    payload = "<script>alert(1)</script>"
    case = Case("xss", accept=REFUSE, echoes=(payload,))
    answer = Answer(404, 1.0, f"<p>no page {payload}</p>".encode(), content_type="text/html")
    assert "reflected" in (_judge(case, answer) or "")


@pytest.mark.parametrize(
    ("request_", "must_contain"),
    [
        (SentRequest("GET", "http://127.0.0.1:8080/health"), "curl -sS -i --max-time 30 -X GET"),
        (
            SentRequest(
                "POST",
                "http://127.0.0.1:8080/predict",
                [("Content-Type", "application/json")],
                body=b'{"id": "1", "text": "it\'s"}',
            ),
            "--data-binary",
        ),
        (
            SentRequest(
                "POST",
                "http://127.0.0.1:8080/predict",
                [("Authorization", "Bearer s3cr3t-value")],
                body=b"{}",
            ),
            "$CLFWATCH_TOKEN",
        ),
        (SentRequest("POST", "http://127.0.0.1:8080/predict", body=b"\xff\xfe"), "printf"),
        (SentRequest("POST", "http://127.0.0.1:8080/predict", body=b"x" * 5000), "python3 -c"),
        (
            SentRequest("GET", "http://127.0.0.1:8080/x", raw=b"FOO / HTTP/1.1\r\n\r\n"),
            "nc -q 5 127.0.0.1 8080",
        ),
    ],
)
def test_curl_command(request_: SentRequest, must_contain: str) -> None:
    command = curl_command(request_)
    assert must_contain in command
    assert "s3cr3t-value" not in command
    shlex.split(command)  # valid shell words


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "1", "text": "it\'s \\"quoted\\" $HOME `id`"}',
        b"\xff\xfe\x00%s\\n",
        b"y" * 5000,
        "é🤖\u202e".encode(),
    ],
)
def test_curl_body_generator_prints_exactly_the_body(body: bytes) -> None:
    command = curl_command(SentRequest("POST", "http://127.0.0.1:1/p", body=body))
    if "--data-binary @-" not in command:
        text = shlex.split(command)[shlex.split(command).index("--data-binary") + 1]
        assert text.encode() == body
        return
    generator = command.split(" | curl ")[0]
    out = subprocess.run(["bash", "-c", generator], capture_output=True, timeout=10, check=True).stdout
    assert out == body


@pytest.mark.parametrize("template", [None, '{"inputs": {"message": "{text}", "ref": "{id}"}, "v": 2}'])
def test_generated_big_bodies_match_what_is_sent(template: str | None) -> None:
    spec = TargetSpec("http://127.0.0.1:1", template=template)
    bars = DEFAULT_BARS.with_overrides({"huge_sizes_bytes": "70000", "nesting_depth": 50})
    cases = [
        c
        for c in huge_payload_cases(StressContext(spec, bars))
        + schema_violation_cases(StressContext(spec, bars))
        if c.body_shell
    ]
    assert len(cases) == 3
    for case in cases:
        out = subprocess.run(
            ["bash", "-c", case.body_shell or ""], capture_output=True, timeout=10, check=True
        ).stdout
        assert json.loads(out) == json.loads(case.body or b""), case.label


def test_excerpt_and_percentiles() -> None:
    assert excerpt("a" * 600).startswith("a" * 500) and excerpt("a" * 600).endswith("[100 more characters]")
    assert excerpt(b"\xff") == "\ufffd"
    assert percentiles_ms([]) == {"p50": None, "p95": None, "p99": None, "max": None}
    p = percentiles_ms([float(i) for i in range(1, 101)])
    assert (p["p50"], p["p95"], p["p99"], p["max"]) == (50.0, 95.0, 99.0, 100.0)


def test_bars_override_and_errors() -> None:
    bars = DEFAULT_BARS.with_overrides(
        parse_bar_overrides(["spike_users=7", "latency_bar_s=0.25", "huge_sizes_bytes=10,20"])
    )
    assert (bars.spike_users, bars.latency_bar_s, bars.huge_sizes_bytes) == (7, 0.25, (10, 20))
    assert DEFAULT_BARS.latency_bar_s == 0.5  # the grading rules' zero point
    for bad in (["nope=1"], ["spike_users=many"], ["spike_users=-3"]):
        with pytest.raises(BarsError):
            DEFAULT_BARS.with_overrides(parse_bar_overrides(bad))
    with pytest.raises(BarsError):
        parse_bar_overrides(["spike_users"])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("0.0.0.0", False),
        ("::ffff:8.8.8.8", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/", "127.0.0.1:8080", "http://", "http://127.0.0.1:99999", "http://127.0.0.1:8080/?q=1"],
)
def test_check_url_refuses_bad_urls(url: str) -> None:
    with pytest.raises(StressError):
        check_url(url)


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080", "https://example.com", "http://169.254.169.254"])
def test_unregistered_outside_urls_are_refused(url: str) -> None:
    with pytest.raises(StressError, match="refusing to stress"):
        resolve_spec(url, database_url=None, target_name=None)


def test_parse_only_keeps_canonical_order_and_refuses_unknown() -> None:
    assert parse_only(["spike", "contract"]) == ["contract", "spike"]
    assert parse_only(None) == list(SCENARIO_NAMES)
    with pytest.raises(StressError, match="unknown scenario 'nope'"):
        parse_only(["contract", "nope"])


def test_the_ten_scenarios_in_design_order() -> None:
    assert SCENARIO_NAMES == (
        "contract",
        "malformed_json",
        "schema_violations",
        "huge_payload",
        "unicode_edge",
        "injection",
        "http_abuse",
        "spike",
        "recovery",
        "slow_clients",
    )
    assert all(s.description and len(s.description) < 110 for s in SCENARIOS)


TEMPLATE = '{"inputs": {"message": "Classify: {text}", "ref": "{id}"}, "raw": "{text}"}'


@pytest.mark.parametrize(
    ("template", "text", "id_value", "expected"),
    [
        (None, "hi", "1", {"id": "1", "text": "hi"}),
        (None, DROP, "1", {"id": "1"}),
        (None, 5, None, {"id": None, "text": 5}),
        (None, 'quote " and \\ back', "x", {"id": "x", "text": 'quote " and \\ back'}),
        (TEMPLATE, "hi", "7", {"inputs": {"message": "Classify: hi", "ref": "7"}, "raw": "hi"}),
        (TEMPLATE, ["a"], "7", {"inputs": {"message": 'Classify: ["a"]', "ref": "7"}, "raw": ["a"]}),
        (TEMPLATE, DROP, DROP, {"inputs": {"message": "Classify: "}}),
    ],
)
def test_body_with_templates(template: str | None, text: object, id_value: object, expected: object) -> None:
    assert TargetSpec("http://127.0.0.1:1", template=template).body_with(text, id_value) == expected


def test_probability_pointer_and_body_checks() -> None:
    document = {"result": [{"score": 0.3}], "a/b": {"~": 1}}
    assert find_pointer(document, "/result/0/score") == 0.3
    assert find_pointer(document, "/a~1b/~0") == 1
    assert find_pointer(document, "/result/5/score") is None
    custom = TargetSpec(
        "http://127.0.0.1:1", template='{"q": "{text}"}', probability_pointer="/result/0/score"
    )
    assert custom.predict_verdict(200, json.dumps(document).encode(), "ignored").ok
    assert not SPEC.predict_verdict(200, b'{"id": "1", "probability": NaN}', "1").ok


OUTCOME_TABLE = [
    # (status counts, answered, refused, timeouts, transport errors)
    ({}, 0, 0, 0, 0),
    ({"200": 5, "422": 2, "200:bad_body": 1, "503": 1}, 9, 0, 0, 0),
    ({"error:refused": 8898}, 0, 8898, 0, 0),
    ({"200": 3, "error:timeout": 2, "error:unanswered": 1}, 3, 0, 3, 0),
    (
        {"error:dns": 1, "error:closed": 2, "error:httpconnectionclosed": 1, "error:connect_error": 1},
        0, 0, 0, 5,
    ),
]


@pytest.mark.parametrize(("counts", "answered", "refused", "timeouts", "other"), OUTCOME_TABLE)
def test_outcome_counts_keep_answers_apart_from_failures(
    counts: dict[str, int], answered: int, refused: int, timeouts: int, other: int
) -> None:
    assert outcome_counts(counts) == {
        "answered": answered, "refused": refused, "timeouts": timeouts, "transport_errors": other
    }


def test_percentiles_from_histogram_match_nearest_rank() -> None:
    assert percentiles_from_histogram({})["p95"] is None
    latencies = [float(v) for v in range(1, 101)]
    assert percentiles_from_histogram(dict.fromkeys(latencies, 1)) == percentiles_ms(latencies)
    expected = {"p50": 5.0, "p95": 5.0, "p99": 400.0, "max": 400.0}
    assert percentiles_from_histogram({5.0: 95, 400.0: 5}) == expected


def _wrapped(cause: BaseException) -> BaseException:
    import httpx

    try:
        try:
            raise cause
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
    except httpx.ConnectError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_wrapped(ConnectionRefusedError(111, "Connection refused")), "refused"),
        (_wrapped(__import__("socket").gaierror(-2, "Name or service not known")), "dns"),
        (_wrapped(OSError(113, "No route to host")), "connect_error"),
        (ConnectionRefusedError(111, "Connection refused"), "refused"),
    ],
    ids=["refused", "dns", "no-route", "bare-refused"],
)
def test_connect_error_kind(error: BaseException, kind: str) -> None:
    assert connect_error_kind(error) == kind
