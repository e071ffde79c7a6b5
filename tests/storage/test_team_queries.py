"""A team's own failed probes: newest first, bounded, never another team's or an ok probe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from storage.engine import session_scope
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target
from storage.team_queries import FAILED_PROBES_LOOKBACK, failed_probes

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def row(target_id: int, seconds_ago: float, *, kind: str = "health", outcome: str = "http_error",
        body: str | None = "oops") -> ProbeRow:
    return ProbeRow(
        probe_uid=str(uuid.uuid4()), target_id=target_id, kind=kind,
        started_at=NOW - timedelta(seconds=seconds_ago), outcome=outcome,
        status_code=500 if outcome == "http_error" else (200 if outcome == "ok" else None),
        latency_ms=4.0 if outcome != "timeout" else None, detail=None if outcome == "ok" else "why",
        body_excerpt=body if outcome != "ok" else None,
    )


def test_failed_probes_newest_first_own_target_only(db_url: str) -> None:
    with session_scope(db_url) as session:
        mine = add_target(session, name="mine", base_url="http://127.0.0.1:9").id
        other = add_target(session, name="other", base_url="http://127.0.0.1:9").id
        rows = [row(mine, 10 * i, kind="predict" if i % 3 else "health") for i in range(1, 61)]
        rows += [row(mine, 5, outcome="ok"), row(mine, 7, outcome="timeout", body=None)]
        rows += [row(other, 1), row(other, 2)]
        rows += [row(mine, FAILED_PROBES_LOOKBACK.total_seconds() + 60)]  # too old to look for
        record_probes(session, rows)
    with session_scope(db_url) as session:
        found = failed_probes(session, mine, now=NOW)
        assert len(found) == 50
        assert found[0].outcome == "timeout" and found[0].status_code is None
        assert found[0].body_excerpt is None
        assert found[1].started_at == NOW - timedelta(seconds=10) and found[1].body_excerpt == "oops"
        assert found[1].status_code == 500 and found[1].detail == "why"
        assert [f.started_at for f in found] == sorted((f.started_at for f in found), reverse=True)
        assert {f.kind for f in found} == {"health", "predict"}
        assert all(f.outcome != "ok" for f in found)
        assert len(failed_probes(session, other, now=NOW)) == 2
        assert failed_probes(session, mine, now=NOW, limit=3)[2].started_at == NOW - timedelta(seconds=20)


def test_no_failures_is_an_empty_list(db_url: str) -> None:
    with session_scope(db_url) as session:
        target = add_target(session, name="calm", base_url="http://127.0.0.1:9").id
        record_probes(session, [row(target, 3, outcome="ok")])
    with session_scope(db_url) as session:
        assert failed_probes(session, target, now=NOW) == []
