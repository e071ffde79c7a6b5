"""core/llm_contract's verdicts on real servers: the demo passes every check, each faulty server
fails exactly the checks its defect breaks, with the reason naming the field."""

from __future__ import annotations

import pytest

from core.llm_contract import REASON_NO_CHOICE, REASON_NO_DONE, REASON_NO_FINISH, first_problem
from tests.llm.servers import Defect, LlmServer, faulty_llm_server
from tests.llm.verdicts import failing_checks, stream_verdict

# defect -> {check: a phrase the first problem of that check holds}
EXPECTED: dict[Defect, dict[str, str]] = {
    Defect.NO_OBJECT: {"completion": "object", "stream": "chunks[0].object"},
    Defect.EMPTY_CHOICES: {"completion": REASON_NO_CHOICE, "stream": REASON_NO_FINISH},
    Defect.ROLE_BOT: {"completion": "choices[0].message.role",
                      "stream": 'chunks[0].choices[0].delta.role: expected "assistant"'},
    Defect.NO_DONE: {"stream": REASON_NO_DONE},
    Defect.STREAM_CUT: {"stream": REASON_NO_DONE},
    Defect.AUTH_NOT_ENFORCED: {"auth": "no key: models answered 200"},
    Defect.CRASH_ON_NEGATIVE_MAX_TOKENS: {"bad_request": "max_tokens -1 answered 500"},
}


def test_demo_passes_every_check(demo_llm: LlmServer) -> None:
    assert failing_checks(demo_llm) == {}
    verdict = stream_verdict(demo_llm)
    assert verdict.saw_done and verdict.content_chunks >= 1
    assert verdict.tokens_source == "usage" and verdict.output_tokens == verdict.content_chunks
    assert verdict.ttft_ms is not None and verdict.ttft_ms > 0


@pytest.mark.parametrize("defect", list(Defect))
def test_each_faulty_server_fails_exactly_its_checks(defect: Defect) -> None:
    with faulty_llm_server(defect) as server:
        failing = failing_checks(server)
    assert set(failing) == set(EXPECTED[defect]), failing
    for check, phrase in EXPECTED[defect].items():
        assert phrase in (first_problem(failing[check]) or ""), failing[check]
