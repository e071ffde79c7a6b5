"""The chat probe, its health probes and the key-enforcement check against LiteLLM's proxy.

An independent OpenAI-compatible server (``mock_response`` model, a master key, no weights):
what the probes record must hold for a server clfwatch did not write.
"""

from __future__ import annotations

import asyncio

from core.contract import Outcome, TargetKind
from probes.llm import check_key_enforcement, probe_chat, probe_llm_health
from storage.targets import ProbeTarget
from tests.llm.servers import LlmServer

TIMEOUT_S = 10.0  # the proxy's first answer imports and routes: seconds on a loaded box
CAP = 64 * 1024



def target_of(server: LlmServer, *, health_path: str = "", token: str | None = None) -> ProbeTarget:
    return ProbeTarget(
        id=21, name="litellm", base_url=server.base_url, predict_path="/v1/chat/completions",
        health_path=health_path, request_template=None, probability_pointer="/probability",
        token=token or server.key, kind=TargetKind.OPENAI_CHAT, model=server.model,
    )


def test_litellm_streams_pass_the_chat_probe(litellm_proxy: LlmServer) -> None:
    async def go() -> list:  # type: ignore[type-arg]
        return [await probe_chat(target_of(litellm_proxy), slot=s, timeout_s=TIMEOUT_S, cap_bytes=CAP)
                for s in range(3)]

    for row in asyncio.run(go()):
        assert (row.outcome, row.status_code, row.detail) == (Outcome.OK, 200, None)
        assert row.ttft_ms is not None and row.latency_ms is not None and row.ttft_ms <= row.latency_ms
        assert row.tokens_source in ("usage", "chunks") and (row.output_tokens or 0) > 0
        assert row.tokens_per_s is not None and row.tokens_per_s > 0


# LiteLLM's proxy without a database cannot look up virtual keys: any key but its master key gets
# 400 "No connected db." (with a database it is a 401). Refused, but not with 401/403.
NO_DB_STATUS = 400


def test_litellm_health_and_models_list(litellm_proxy: LlmServer) -> None:
    async def go() -> tuple:  # type: ignore[type-arg]
        models = await probe_llm_health(target_of(litellm_proxy), timeout_s=TIMEOUT_S, cap_bytes=CAP)
        live = await probe_llm_health(target_of(litellm_proxy, health_path="/health/liveliness"),
                                      timeout_s=TIMEOUT_S, cap_bytes=CAP)
        wrong = await probe_llm_health(target_of(litellm_proxy, token="sk-not-the-master-key"),
                                       timeout_s=TIMEOUT_S, cap_bytes=CAP)
        return models, live, wrong

    models, live, wrong = asyncio.run(go())
    assert (models.outcome, live.outcome) == (Outcome.OK, Outcome.OK)
    assert (wrong.outcome, wrong.status_code) == (Outcome.HTTP_ERROR, NO_DB_STATUS)


def test_litellm_refuses_requests_without_its_key(litellm_proxy: LlmServer) -> None:
    no_key, wrong_key = asyncio.run(
        check_key_enforcement(target_of(litellm_proxy), timeout_s=TIMEOUT_S, cap_bytes=CAP)
    )
    assert (no_key.outcome, no_key.status_code) == (Outcome.OK, 401)
    # Refused, so not "auth_not_enforced"; but a 400 is not the 401/403 a client expects: the row
    # says so, and why.
    assert (wrong_key.outcome, wrong_key.status_code) == (Outcome.HTTP_ERROR, NO_DB_STATUS)
    assert (wrong_key.detail or "").startswith("status 400 to a request with a wrong key")
    assert wrong_key.body_excerpt is not None and "No connected db" in wrong_key.body_excerpt
    for row in (no_key, wrong_key):
        assert litellm_proxy.key not in repr(row)
