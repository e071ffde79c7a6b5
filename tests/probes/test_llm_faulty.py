"""The prober against the faulty LLM servers and the demo LLM (tests/llm/servers.py), on real uvicorns.

Each faulty server breaks one thing; its chat, health and key-enforcement rows must fail exactly
the checks that thing breaks, and pass the others.
"""

from __future__ import annotations

import asyncio

import pytest

from core.contract import Outcome, TargetKind
from probes.llm import check_key_enforcement, probe_chat, probe_llm_health
from storage.probes import ProbeRow
from storage.targets import ProbeTarget
from tests.llm.servers import Defect, LlmServer, demo_llm_server, faulty_llm_server

TIMEOUT_S = 3.0
CAP = 64 * 1024


def target_of(server: LlmServer, *, health_path: str = "/health") -> ProbeTarget:
    return ProbeTarget(
        id=11, name="faulty", base_url=server.base_url, predict_path="/v1/chat/completions",
        health_path=health_path, request_template=None, probability_pointer="/probability",
        token=server.key, kind=TargetKind.OPENAI_CHAT, model=server.model,
    )


def probe_all(server: LlmServer) -> tuple[ProbeRow, ProbeRow, ProbeRow, list[ProbeRow]]:
    async def go() -> tuple[ProbeRow, ProbeRow, ProbeRow, list[ProbeRow]]:
        target = target_of(server)
        chat = await probe_chat(target, slot=1, timeout_s=TIMEOUT_S, cap_bytes=CAP)
        health = await probe_llm_health(target, timeout_s=TIMEOUT_S, cap_bytes=CAP)
        models = await probe_llm_health(target_of(server, health_path=""), timeout_s=TIMEOUT_S, cap_bytes=CAP)
        auth = await check_key_enforcement(target, timeout_s=TIMEOUT_S, cap_bytes=CAP)
        return chat, health, models, auth

    return asyncio.run(go())


# defect -> (chat outcome, a word its detail must hold, auth outcome)
EXPECTED = {
    Defect.NO_OBJECT: (Outcome.BAD_BODY, "object", Outcome.OK),
    # A chunk may have no choice (the usage chunk has none): a stream of them has no finish_reason.
    Defect.EMPTY_CHOICES: (Outcome.BAD_BODY, "finish_reason", Outcome.OK),
    Defect.ROLE_BOT: (Outcome.BAD_BODY, "role", Outcome.OK),
    Defect.NO_DONE: (Outcome.BAD_BODY, "[DONE]", Outcome.OK),
    Defect.AUTH_NOT_ENFORCED: (Outcome.OK, None, Outcome.AUTH_NOT_ENFORCED),
    # The probe never sends max_tokens: -1 (the stress suite does): nothing for it to see.
    Defect.CRASH_ON_NEGATIVE_MAX_TOKENS: (Outcome.OK, None, Outcome.OK),
    Defect.STREAM_CUT: (Outcome.PROTOCOL_ERROR, "dropped", Outcome.OK),
}


@pytest.mark.parametrize("defect", list(Defect), ids=[d.value for d in Defect])
def test_each_faulty_server_fails_exactly_what_it_breaks(defect: Defect) -> None:
    chat_outcome, word, auth_outcome = EXPECTED[defect]
    with faulty_llm_server(defect) as server:
        chat, health, models, auth = probe_all(server)
    assert chat.outcome == chat_outcome, chat.detail
    if word is None:
        assert chat.detail is None and chat.ttft_ms is not None and chat.tokens_source is not None
    else:
        assert chat.detail is not None and word in chat.detail, chat.detail
    if chat_outcome == Outcome.BAD_BODY:
        assert chat.status_code == 200 and chat.body_excerpt  # what the server said, for the team
    if defect is Defect.STREAM_CUT:
        assert chat.ttft_ms is not None  # the first tokens came before the cut
    assert (health.outcome, models.outcome) == (Outcome.OK, Outcome.OK)
    assert [r.outcome for r in auth] == [auth_outcome] * 2
    for row in (chat, health, models, *auth):
        assert server.key not in repr(row)


def test_the_demo_llm_passes_every_check() -> None:
    with demo_llm_server() as server:
        chat, health, models, auth = probe_all(server)
    assert (chat.outcome, chat.status_code, chat.detail) == (Outcome.OK, 200, None)
    assert chat.ttft_ms is not None and chat.latency_ms is not None and chat.ttft_ms <= chat.latency_ms
    assert chat.tokens_source in ("usage", "chunks") and (chat.output_tokens or 0) > 0
    assert (health.outcome, models.outcome) == (Outcome.OK, Outcome.OK)
    assert [r.outcome for r in auth] == [Outcome.OK, Outcome.OK]
    assert [r.status_code for r in auth] == [401, 401]
