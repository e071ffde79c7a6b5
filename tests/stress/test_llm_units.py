"""Pure parts of the LLM suite: the judge, the burst verdict, the raw replay, suites and specs."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter

import pytest

from core.contract import LlmScenarioName, ScenarioName, TargetKind
from stress.bars import DEFAULT_BARS
from stress.cases import ACCEPT_2XX, ACCEPT_VALID, JSON_HEADERS, Case
from stress.context import StressContext
from stress.crafted import sent_request
from stress.evidence import Answer, ScenarioResult, curl_command
from stress.llm.cases import (
    AUTH_REFUSED,
    KEY_PLACEHOLDER,
    RAW_HEADER_INJECTIONS,
    REFUSE_OR_ANSWER,
    auth_cases,
    bad_request_cases,
    injection_cases,
    long_prompt_cases,
    raw_chat_head,
    raw_replay,
)
from stress.llm.judging import generated_texts, judge_llm_answer
from stress.llm.load import burst_verdict
from stress.llm.scenarios import LLM_SCENARIO_NAMES, adapt
from stress.load import LoadStats
from stress.runner import StressError, choose_suite, parse_only
from stress.scenarios import CLASSIFIER_SUITE
from stress.suites import SUITES
from stress.target import TargetSpec

KEY = "sk-unit-test-key-5c0ffee"
SPEC = adapt(TargetSpec("http://127.0.0.1:9", token=KEY, model="m-1"))
CTX = StressContext(SPEC, DEFAULT_BARS)
COMPLETION = json.dumps({
    "id": "c-1", "object": "chat.completion", "created": 1, "model": "m-1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Traceback (most recent call last): "
                                                                         "see /home/user/notes.txt"},
                 "finish_reason": "stop"}],
}).encode()


def judge(case: Case, answer: Answer) -> str | None:
    return judge_llm_answer(case, answer, SPEC, 5.0)


NO_KEY = Case("no key", accept=AUTH_REFUSED, with_token=False)
INJ = Case("inj", accept=REFUSE_OR_ANSWER)
WANTS_VALID = Case("c", accept=frozenset({ACCEPT_VALID}))
TRACE = b'{"error": "Traceback (most recent call last):\\n File \\"/app/x.py\\", line 3"}'
NO_OBJECT = COMPLETION.replace(b'"object": "chat.completion", ', b"")

JUDGE_TABLE = [
    # (what, case, answer, acceptable?)
    ("401 without a key", NO_KEY, Answer(401, 1.0), True),
    ("403 without a key", NO_KEY, Answer(403, 1.0), True),
    ("400 is not a key refusal", NO_KEY, Answer(400, 1.0), False),
    ("200 without a key", NO_KEY, Answer(200, 1.0), False),
    ("500 without a key", NO_KEY, Answer(500, 1.0), False),
    ("the model's own text is not a leak", INJ, Answer(200, 1.0, COMPLETION), True),
    ("a server's traceback is", INJ, Answer(400, 1.0, TRACE), False),
    ("the key in an answer", INJ, Answer(400, 1.0, f"bad key {KEY}".encode()), False),
    ("the key echoed to a request that sent it in a wrong form",
     Case("longer", accept=AUTH_REFUSED, with_token=False, auth_shown="Bearer ${KEY}x"),
     Answer(401, 1.0, f"invalid key {KEY}x".encode()), True),
    ("a valid completion", WANTS_VALID, Answer(200, 1.0, COMPLETION), True),
    ("a completion without object", WANTS_VALID, Answer(200, 1.0, NO_OBJECT), False),
    ("a 4xx where a completion was due", WANTS_VALID, Answer(429, 1.0), False),
    ("a hang", INJ, Answer(None, None, error="timeout"), False),
]


@pytest.mark.parametrize(("what", "case", "answer", "ok"), JUDGE_TABLE, ids=[row[0] for row in JUDGE_TABLE])
def test_judge_llm_answer(what: str, case: Case, answer: Answer, ok: bool) -> None:
    problem = judge(case, answer)
    assert (problem is None) == ok, problem
    if problem:
        assert KEY not in problem


def test_judge_names_the_schema_field_and_the_key() -> None:
    assert judge(WANTS_VALID, Answer(200, 1.0, NO_OBJECT)) == "c: object: field required"
    echoed = judge(INJ, Answer(400, 1.0, KEY.encode()))
    assert echoed is not None and "holds the key" in echoed and KEY not in echoed


def test_generated_texts_from_a_completion_and_a_stream() -> None:
    assert generated_texts(COMPLETION) == ("Traceback (most recent call last): see /home/user/notes.txt",)
    stream = b"".join(
        b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}).encode() + b"\n\n"
        for piece in ("Hel", "lo")
    ) + b"data: [DONE]\n\n"
    assert generated_texts(stream) == ("Hel", "lo", "Hello")
    assert generated_texts(b"\xff not json") == ()


def _stats(counts: dict[str, int], ttft_p95: float | None, ok: bool = True) -> LoadStats:
    return LoadStats(ok=ok, requests=sum(counts.values()), status_counts=Counter(counts),
                     ttft_ms={"p50": ttft_p95, "p95": ttft_p95, "p99": ttft_p95, "max": ttft_p95},
                     error=None if ok else "Locust exited with code 1 and no result")


BURST_TABLE = [
    ("all streams fine", {"200": 40}, 300.0, True, "TTFT p95 300 ms"),
    ("429 under load is an answer", {"200": 30, "429": 10}, 300.0, True, "10 answered 4xx"),
    ("a broken stream is stream_schema's business", {"200": 30, "200:bad_stream": 10}, 300.0, True, ""),
    ("a 5xx", {"200": 39, "503": 1}, 300.0, False, "1 of 40 streams got a 5xx"),
    ("a hang", {"200": 39, "error:timeout": 1}, 300.0, False, "1 timed out"),
    ("slow first tokens", {"200": 40}, 2500.0, False, "TTFT p95 2500 ms > 2000 ms"),
    ("no token at all", {"200": 40}, None, False, "no stream produced a token"),
    ("nothing sent", {}, None, False, "not one stream was sent"),
]


@pytest.mark.parametrize(("what", "counts", "p95", "ok", "says"), BURST_TABLE,
                         ids=[row[0] for row in BURST_TABLE])
def test_burst_verdict(what: str, counts: dict[str, int], p95: float | None, ok: bool, says: str) -> None:
    passed, summary = burst_verdict(_stats(counts, p95), 2000.0)
    assert passed == ok and says in summary


def test_burst_that_could_not_run_fails() -> None:
    passed, summary = burst_verdict(_stats({}, None, ok=False), 2000.0)
    assert not passed and "could not run" in summary


def test_raw_replay_prints_exactly_what_is_sent_with_the_key_from_the_shell() -> None:
    """The curl line of a raw header-injection case, run by a shell with KEY set, prints the very
    bytes ``stress.crafted.send_case`` sends (the key after the request line)."""
    body = b'{"model":"m-1","messages":[{"role":"user","content":"Hello!"}]}'
    head = raw_chat_head(SPEC, body, b"X-Note: a\rX-Injected: 1\x00")
    command = raw_replay(head, body)
    assert KEY not in command and '"$KEY"' in command
    printed = subprocess.run(["bash", "-c", command], env={**os.environ, "KEY": KEY}, capture_output=True,
                             check=True).stdout
    sent = head.replace(b"\r\n", f"\r\nAuthorization: Bearer {KEY}\r\n".encode(), 1) + body
    assert printed == sent


def test_every_case_shows_the_key_as_a_variable() -> None:
    cases = auth_cases(CTX) + bad_request_cases(CTX) + injection_cases(CTX) + long_prompt_cases(CTX)
    for case in cases:
        request = sent_request(case, SPEC)
        line = curl_command(request)
        shown = json.dumps(request.to_dict())
        assert KEY not in line and KEY not in shown, case.label
    labels = {c.label: c for c in auth_cases(CTX)}
    assert '"Authorization: Bearer ${KEY}x"' in curl_command(sent_request(labels["the key with one character "
                                                                                 "more is refused"], SPEC))
    assert "Authorization" not in curl_command(sent_request(labels["no key is refused"], SPEC))
    assert '"Authorization: Bearer $KEY"' in curl_command(sent_request(labels["the key is accepted"], SPEC))


def test_bad_request_rows_are_the_briefs_cases() -> None:
    labels = [c.label for c in bad_request_cases(CTX)]
    for wanted in ("broken JSON (cut in half)", "messages missing", 'role "bot"', "max_tokens: -1"):
        assert wanted in labels
    assert all(c.body is not None for c in bad_request_cases(CTX))


def test_long_prompt_is_past_the_window_and_bounded() -> None:
    cases = long_prompt_cases(CTX)
    assert [len(c.body or b"") > DEFAULT_BARS.llm_long_prompt_bytes for c in cases] == [True, True]
    assert all(len(c.body or b"") < 2 * DEFAULT_BARS.llm_long_prompt_bytes for c in cases)
    assert all(c.timeout_s == DEFAULT_BARS.llm_long_prompt_timeout_s for c in cases)
    assert all(len(curl_command(sent_request(c, SPEC))) < 2000 for c in cases)  # generated, not inlined


def test_scenario_result_redacts_the_key_everywhere() -> None:
    result = ScenarioResult("injection", False, f"leaked {KEY}", extra={"body": f"x {KEY} y", KEY: 1})
    result.redact([KEY, None])
    assert KEY not in result.summary and KEY not in json.dumps(result.evidence)
    assert "<token>" in result.summary


def test_suites_names_and_choice() -> None:
    assert tuple(LlmScenarioName) == LLM_SCENARIO_NAMES
    assert SUITES["classifier"].names == tuple(ScenarioName)
    assert parse_only(["burst", "chat_schema"], SUITES["llm"]) == ["chat_schema", "burst"]
    with pytest.raises(StressError, match="unknown scenario 'contract' in the llm suite"):
        parse_only(["contract"], SUITES["llm"])
    bare = TargetSpec("http://127.0.0.1:9")
    assert choose_suite(None, bare) is CLASSIFIER_SUITE
    assert choose_suite("llm", bare) is SUITES["llm"]
    registered_llm = TargetSpec("http://127.0.0.1:9", name="t", target_id=3, kind=TargetKind.OPENAI_CHAT)
    assert choose_suite(None, registered_llm) is SUITES["llm"]
    with pytest.raises(StressError, match="run --suite llm"):
        choose_suite("classifier", registered_llm)
    with pytest.raises(StressError, match="unknown suite"):
        choose_suite("nope", bare)


def test_a_bare_url_takes_the_llm_suites_paths() -> None:
    assert (SPEC.kind, SPEC.predict_path, SPEC.health_path, SPEC.auth_placeholder) == (
        TargetKind.OPENAI_CHAT, "/v1/chat/completions", "/health", KEY_PLACEHOLDER
    )


def test_injection_sends_crlf_raw_and_prompt_strings_in_json() -> None:
    cases = injection_cases(CTX)
    heads = [c.raw_head for c in cases if c.raw_head is not None]
    for _label, line in RAW_HEADER_INJECTIONS:  # each odd header line, byte for byte, in its own request
        assert sum(line in head for head in heads) == 1
    assert all(ACCEPT_2XX in c.accept for c in cases)
    assert all(c.headers[: len(JSON_HEADERS)] == JSON_HEADERS for c in cases)
