"""openai-chat targets with hand-computable grades, beside the classifiers of ``data.py``.

Every LLM target is probed in the whole hour before AT's partial hour, so its counts and mean TTFT
come from the rollups, and its p95 TTFT from raw rows: both must hold the time to first token,
never the end-to-end latency (set to 3 s here, which would earn 0 points).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage.probes import ProbeRow, record_probes
from storage.targets import add_target
from tests.scoring.data import AT, healths

E2E_MS = 3000.0  # every chat probe's whole exchange: slow on purpose, and never graded
CHAT_START = AT - timedelta(minutes=59)  # 23:31 to 23:50 of the day before AT: a whole rollup hour
MODEL = "tiny-chat"

# name -> (ttft, uptime, rate200 points; multiplier; total; rank), worked out in build_llm_scenario.
LLM_EXPECTED = {
    "llm-fast": ((0.5, 1.0, 1.0), 1.0, 2.5, 1),
    "llm-young": ((0.5, 1.0, 1.0), 0.5, 1.25, 2),
    "llm-broken": ((0.0, None, 1.0), 1.0, 1.0, 3),
    "llm-flaky": ((1.0, 0.0, 0.0), 1.0, 1.0, 3),
    "llm-silent": ((None, None, None), 1.0, 0.0, 5),
}
LLM_RAW = {
    "llm-fast": (1.1, 1.0, 1.0),
    "llm-young": (1.1, 1.0, 1.0),
    "llm-broken": (None, None, 1.0),
    "llm-flaky": (0.2, 0.95, 0.9),
    "llm-silent": (None, None, None),
}


def chat(target_id: int, at: datetime, *, ttft_ms: float | None, outcome: str = "ok",
         status: int | None = 200, detail: str | None = None) -> ProbeRow:
    ok = outcome == "ok"
    return ProbeRow(
        probe_uid=str(uuid.uuid4()), target_id=target_id, kind="chat", started_at=at, outcome=outcome,
        status_code=status, latency_ms=E2E_MS if status is not None else None, detail=detail,
        ttft_ms=ttft_ms, itl_ms=40.0 if ok else None, tokens_per_s=25.0 if ok else None,
        output_tokens=16 if ok else None, tokens_source="usage" if ok else None,
    )


def auth(target_id: int, at: datetime, *, enforced: bool) -> ProbeRow:
    return ProbeRow(
        probe_uid=str(uuid.uuid4()), target_id=target_id, kind="auth", started_at=at,
        outcome="ok" if enforced else "auth_not_enforced", status_code=401 if enforced else 200,
        latency_ms=20.0, detail=None if enforced else "request without a key: answered 200",
    )


def chats(target_id: int, ttfts_ms: list[float]) -> list[ProbeRow]:
    return [chat(target_id, CHAT_START + timedelta(minutes=i), ttft_ms=t) for i, t in enumerate(ttfts_ms)]


def build_llm_scenario(session: Session) -> dict[str, int]:
    """Five openai-chat targets (needs ``data.build_scenario``'s prober sessions, or its own).

    - llm-fast: 18 TTFTs of 500 ms and 2 of 1,100 ms: p95 (rank 19 of 20) 1.1 s → (1.1 - 2) /
      (0.2 - 2) = 0.5; mean 560 ms → 0.8. 20 of 20 health ok, 20 of 20 chat 200: 1 + 1. Total
      2.5. Its 5 auth probes (3 refused with 401, 2 answered: not enforced) count nowhere: as chat
      probes they would make the 200-rate 22/25, as health probes the uptime 23/25.
    - llm-young: the same, registered 3.5 days before AT: multiplier 0.5, total 1.25.
    - llm-flaky: 19 of 20 health ok = 95 % → 0; 9 ok chats at 200 ms and one 500: 200-rate 0.9
      → 0, TTFT p95 over the 9 ok ones 0.2 s → 1. Total 1.0.
    - llm-broken: 10 chats answered 200 with a broken stream (bad_body): TTFT 0 points (no valid
      streamed answer to time), 200-rate 1; no health probes: uptime missing. Total 1.0, tied
      with llm-flaky in total and base: both rank 3.
    - llm-silent: never probed: every component missing, rank 5.
    """
    ids = {}
    for name, age_days in (("llm-fast", 8), ("llm-young", 3.5), ("llm-flaky", 8), ("llm-broken", 8),
                           ("llm-silent", 8)):
        ids[name] = add_target(session, name=name, base_url="http://127.0.0.1:9", kind="openai-chat",
                               model=MODEL, registered_at=AT - timedelta(days=age_days)).id
    health_at = AT - timedelta(days=3)
    rows: list[ProbeRow] = []
    for name in ("llm-fast", "llm-young"):
        rows += healths(ids[name], health_at, 20)
        rows += chats(ids[name], [500.0] * 18 + [1100.0] * 2)
    rows += [auth(ids["llm-fast"], CHAT_START + timedelta(minutes=30 + i), enforced=i < 3) for i in range(5)]
    rows += healths(ids["llm-flaky"], health_at, 19, 1)
    rows += chats(ids["llm-flaky"], [200.0] * 9)
    rows.append(chat(ids["llm-flaky"], CHAT_START + timedelta(minutes=15), ttft_ms=None,
                     outcome="http_error", status=500))
    rows += [chat(ids["llm-broken"], CHAT_START + timedelta(minutes=i), ttft_ms=150.0, outcome="bad_body",
                  detail='choices[0].message.role: expected "assistant"') for i in range(10)]
    record_probes(session, rows)
    return ids
