"""The reads behind an openai-chat target's pages: speed of its chat probes, its failed chat probes
with their schema reasons (redacted), its newest key-enforcement check, and its failures for the team."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage.auth_checks import latest_auth_check
from storage.chat_measures import chat_failures, chat_measures
from storage.engine import session_scope
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target
from storage.team_queries import failed_probes

KEY = "cu_prodml_hw_week13-test-9f1c"
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(hours=1)


def _row(target_id: int, kind: str, minute: int, outcome: str = "ok", status: int | None = 200,
         **fields: object) -> ProbeRow:
    return ProbeRow(probe_uid=str(uuid.uuid4()), target_id=target_id, kind=kind,
                    started_at=START + timedelta(minutes=minute), outcome=outcome, status_code=status,
                    **fields)  # type: ignore[arg-type]


def test_chat_reads(db_url: str) -> None:
    with session_scope(db_url) as s:
        tid = add_target(s, name="llm", base_url="http://127.0.0.1:9", kind="openai-chat", model="m",
                         token=KEY, registered_at=NOW - timedelta(days=1)).id
        assert chat_measures(s, tid, START, NOW).n == 0 and latest_auth_check(s, tid) == []
        rows = [_row(tid, "chat", i, latency_ms=1000.0 + i, ttft_ms=100.0 * (i + 1), itl_ms=40.0,
                     tokens_per_s=20.0 + i, output_tokens=16, tokens_source="usage" if i < 15 else "chunks")
                for i in range(20)]
        rows += [
            _row(tid, "chat", 30, "bad_body", 200, latency_ms=500.0, ttft_ms=90.0,
                 detail=f'choices[0].message.role: expected "assistant" (Bearer {KEY})',
                 body_excerpt=f'{{"echo": "{KEY}"}}'),
            _row(tid, "chat", 31, "connect_error", None, detail="refused by 10.0.0.7:38300"),
            _row(tid, "auth", 10, "ok", 401, detail="refused a wrong key (401)"),  # an older check
            _row(tid, "auth", 40, "ok", 401, detail="refused a request without a key (401)"),
            _row(tid, "auth", 40, "auth_not_enforced", 200, detail=f"accepted a wrong key: Bearer {KEY}"),
            _row(tid, "health", 42, "ok", 200, latency_ms=3.0),
        ]
        record_probes(s, rows)
    with session_scope(db_url) as s:
        m = chat_measures(s, tid, START, NOW)
        # ok chat probes only: the broken one (TTFT 90 ms) is not among them
        assert m.n == 20 and m.ttft_p50_ms == 1000.0 and m.ttft_p95_ms == 1900.0
        assert m.itl_ms == pytest.approx(40.0) and m.tokens_per_s == pytest.approx(29.5)
        assert m.e2e_ms == pytest.approx(1009.5) and m.e2e_p95_ms == 1018.0
        assert (m.n_usage, m.n_chunks, m.tokens_source) == (15, 5, "mixed")
        assert chat_measures(s, tid, START, NOW, limit=5).tokens_source == "chunks"  # the newest five
        failures = chat_failures(s, tid, START, NOW, limit=10)
        assert [(f.outcome, f.status_code) for f in failures] == [("connect_error", None), ("bad_body", 200)]
        assert failures[0].reason is None  # a transport error's text is never shown
        assert failures[1].reason == 'choices[0].message.role: expected "assistant" (Bearer <token>)'
        check = latest_auth_check(s, tid)  # the newest check's two rows, not the older one
        assert sorted((a.outcome, a.status_code, a.detail) for a in check) == [
            ("auth_not_enforced", 200, "accepted a wrong key: Bearer <token>"),
            ("ok", 401, "refused a request without a key (401)"),
        ]
        team = failed_probes(s, tid)
        assert [f.kind for f in team] == ["auth", "chat", "chat"]  # the one failed auth row, the chats
        assert all(KEY not in (f.detail or "") + (f.body_excerpt or "") for f in team)
        assert team[2].body_excerpt == '{"echo": "<token>"}'
