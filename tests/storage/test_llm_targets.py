"""openai-chat targets in storage: kind and model, and chat probes graded on time to first token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.contract import TargetKind
from storage.engine import session_scope
from storage.latency_percentiles import latency_percentile_ms
from storage.models import ProbeLatencyBin, ProbeRollup
from storage.probe_counts import probe_counts
from storage.probes import ProbeRow, latency_bin_edge, record_probes
from storage.targets import (
    TargetError,
    add_target,
    get_target,
    list_targets,
    probe_targets,
    update_target,
)

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
URL = "http://127.0.0.1:38300"


def test_a_chat_target_takes_its_kinds_routes_and_a_model(db_url: str) -> None:
    with session_scope(db_url) as s:
        view = add_target(s, name="llm", base_url=URL, token="k", kind="openai-chat", model="tiny")
        classifier = add_target(s, name="clf", base_url="http://127.0.0.1:9")
    assert (view.kind, view.model) == (TargetKind.OPENAI_CHAT, "tiny")
    assert (view.predict_path, view.health_path) == ("/v1/chat/completions", "/health")
    assert (classifier.kind, classifier.model, classifier.predict_path) == ("classifier", None, "/predict")
    with session_scope(db_url) as s:
        kinds = {t.name: (t.kind, t.model, t.token) for t in probe_targets(s)}
        assert kinds == {"llm": ("openai-chat", "tiny", "k"), "clf": ("classifier", None, None)}
        assert [t.kind for t in list_targets(s)] == ["classifier", "openai-chat"]
        update_target(s, "llm", model="bigger", health_path="")
        changed = get_target(s, "llm")
    assert (changed.model, changed.health_path) == ("bigger", "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "gpt"}, "unknown target kind 'gpt': give one of classifier, openai-chat"),
        ({"kind": "openai-chat"}, "needs a model"),
        ({"kind": "openai-chat", "model": "m", "request_template": '{"q": "{text}"}'}, "no request template"),
        ({"kind": "openai-chat", "model": "m", "probability_pointer": "/p"}, "no request template"),
        ({"kind": "openai-chat", "model": "two words"}, "invalid model name"),
        ({"model": "m"}, "only openai-chat targets take a model"),
        ({"health_path": ""}, "invalid health path"),
    ],
)
def test_kind_rules(db_url: str, fields: dict[str, str], message: str) -> None:
    with session_scope(db_url) as s, pytest.raises(TargetError, match=message):
        add_target(s, name="t", base_url=URL, **fields)  # type: ignore[arg-type]


def test_update_keeps_kind_rules(db_url: str) -> None:
    with session_scope(db_url) as s:
        add_target(s, name="clf", base_url=URL)
        add_target(s, name="llm", base_url=URL, kind="openai-chat", model="m")
        with pytest.raises(TargetError, match="only openai-chat"):
            update_target(s, "clf", model="m")
        with pytest.raises(TargetError, match="no probability pointer"):
            update_target(s, "llm", probability_pointer="/p")


def _chat(target_id: int, at: datetime, *, ttft: float | None, e2e: float, outcome: str = "ok") -> ProbeRow:
    return ProbeRow(
        probe_uid=str(uuid.uuid4()), target_id=target_id, kind="chat", started_at=at,
        outcome=outcome, status_code=200, latency_ms=e2e, ttft_ms=ttft, itl_ms=20.0,
        tokens_per_s=40.0, output_tokens=16, tokens_source="usage",
    )


def test_chat_probes_are_graded_on_time_to_first_token(db_url: str) -> None:
    """Rollups, bins and raw edge rows all count TTFT for chat probes, never the whole stream."""
    with session_scope(db_url) as s:
        tid = add_target(s, name="llm", base_url=URL, kind="openai-chat", model="m").id
        rows = [_chat(tid, T0 + timedelta(minutes=i), ttft=100.0 + i, e2e=900.0) for i in range(10)]
        rows.append(_chat(tid, T0, ttft=None, e2e=50.0, outcome="bad_body"))
        assert record_probes(s, rows) == 11
    with session_scope(db_url) as s:
        rollup = s.scalars(select(ProbeRollup)).one()
        assert (rollup.n_total, rollup.n_ok, rollup.latency_n) == (11, 10, 10)
        assert rollup.latency_sum_ms == pytest.approx(sum(100.0 + i for i in range(10)))
        edges = set(s.scalars(select(ProbeLatencyBin.le_ms)))
        assert edges == {latency_bin_edge(100.0 + i) for i in range(10)}
        whole_hour = [(T0, T0 + timedelta(hours=1))]
        part_hour = [(T0, T0 + timedelta(minutes=30))]  # raw rows, not rollups
        for spans in (whole_hour, part_hour):
            counts = probe_counts(s, tid, "chat", spans)
            assert counts.mean_latency_ms == pytest.approx(104.5)
            p50, _how = latency_percentile_ms(s, tid, "chat", spans, 0.5, exact_max_rows=0)
            assert p50 == pytest.approx(104.0, rel=0.1)  # from the bins: within 10 %
            exact, _how = latency_percentile_ms(s, tid, "chat", spans, 0.5)
            assert exact == 104.0
