"""The prober running classifier and openai-chat targets side by side, written to a real database.

Each kind gets its own probes (classifiers: health and predict; openai-chat: health, a streamed
chat and the key-enforcement check at its first schedule); chat rows roll up on their time to
first token; auth rows count in no uptime, 200-rate or latency; the key appears nowhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from core.contract import Outcome, TargetKind
from probes.runner import Prober
from storage.engine import engine_for, session_scope, upgrade_database
from storage.models import Probe
from storage.probe_counts import probe_counts
from storage.windows import window_aggregates_many
from tests.probes.helpers import load_eval, make_settings, register, rows_of, run_prober
from tests.probes.llm_app import KEY, MODEL, ChatBehaviour, Seen, create_chat_app
from tests.probes.targets_app import FarmState, create_farm
from tests.servers import uvicorn_thread

INTERVAL_S = 1.0
TIMEOUT_S = 2.0  # above the interval: a loaded test machine must not turn into timeouts
RUN_S = 3.5  # three slots of each kind for every target


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class MixedRun:
    url: str
    ids: dict[str, int]
    prober: Prober
    log_lines: list[str]
    seen: Seen


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixedRun]:
    tmp: Path = tmp_path_factory.mktemp("mixed")
    url = f"sqlite:///{tmp / 'clfwatch.db'}"
    upgrade_database(url)
    load_eval(url)
    handler = ListHandler()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    seen, open_seen = Seen(), Seen()
    enforcing = ChatBehaviour(first_token_s=0.05, itl_s=0.005)
    not_enforcing = ChatBehaviour(key=None, first_token_s=0.05, itl_s=0.005, usage=False)
    try:
        with (
            uvicorn_thread(create_farm(FarmState())) as farm,
            uvicorn_thread(create_chat_app(enforcing, seen)) as llm,
            uvicorn_thread(create_chat_app(not_enforcing, open_seen)) as open_llm,
        ):
            chat = dict(kind=TargetKind.OPENAI_CHAT, model=MODEL)
            ids = {
                "clf": register(url, "clf", f"{farm}/healthy"),
                "llm": register(url, "llm", llm, token=KEY, **chat),
                "llm-models": register(url, "llm-models", llm, token=KEY, health_path="", **chat),
                "open-llm": register(url, "open-llm", open_llm, token=KEY, **chat),
            }
            settings = make_settings(url, tmp, probe_interval_s=INTERVAL_S, probe_timeout_s=TIMEOUT_S)
            prober = run_prober(settings, RUN_S)
        yield MixedRun(url, ids, prober, handler.lines, seen)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        engine_for(url).dispose()


def kinds(run: MixedRun, name: str) -> dict[str, list[Probe]]:
    out: dict[str, list[Probe]] = {}
    for row in rows_of(run.url, run.ids[name]):
        out.setdefault(row.kind, []).append(row)
    return out


def test_each_target_gets_the_probes_of_its_kind(mixed_run: MixedRun) -> None:
    clf = kinds(mixed_run, "clf")
    assert set(clf) == {"health", "predict"}
    for name in ("llm", "llm-models", "open-llm"):
        rows = kinds(mixed_run, name)
        assert set(rows) == {"health", "chat", "auth"}, name
        assert len(rows["auth"]) == 2, name  # one check at the first schedule: no key, wrong key
        assert 1 <= len(rows["chat"]) <= 4 and 1 <= len(rows["health"]) <= 4, name
        assert all(r.outcome == "ok" for r in rows["chat"] + rows["health"]), [r.detail for r in rows["chat"]]
    for kind in ("health", "predict"):
        assert all(r.outcome == "ok" for r in clf[kind])
        assert all(r.ttft_ms is None and r.tokens_source is None for r in clf[kind])


def test_chat_rows_carry_the_stream_measures(mixed_run: MixedRun) -> None:
    for name, source in (("llm", "usage"), ("open-llm", "chunks")):
        for row in kinds(mixed_run, name)["chat"]:
            assert row.status_code == 200
            assert row.ttft_ms is not None and row.latency_ms is not None
            assert 50 <= row.ttft_ms <= row.latency_ms  # the server's first token came 50 ms in
            assert row.tokens_source == source and (row.output_tokens or 0) > 0
            assert row.tokens_per_s is not None and row.itl_ms is not None


def test_key_enforcement_rows(mixed_run: MixedRun) -> None:
    assert [r.outcome for r in kinds(mixed_run, "llm")["auth"]] == ["ok", "ok"]
    open_rows = kinds(mixed_run, "open-llm")["auth"]
    assert [r.outcome for r in open_rows] == [Outcome.AUTH_NOT_ENFORCED] * 2
    assert {r.detail.split(":")[0] for r in open_rows if r.detail} == {
        "accepted a request without a key", "accepted a wrong key"}


def test_auth_rows_count_in_no_uptime_200_rate_or_latency(mixed_run: MixedRun) -> None:
    tid = mixed_run.ids["open-llm"]
    # A probe the loaded machine started late is the prober's lateness, counted in no grade either:
    # the counts below are of the on-time rows.
    rows = {
        kind: [r for r in probes if r.prober_late_ms is None]
        for kind, probes in kinds(mixed_run, "open-llm").items()
    }
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1)
    with session_scope(mixed_run.url) as session:
        window = window_aggregates_many(session, {tid: (start, end)})[tid]
        chat = probe_counts(session, tid, "chat", [(start, end)])
        counted = sum(
            probe_counts(session, tid, k, [(start, end)]).n_total for k in ("health", "predict", "chat")
        )
    # The two auth rows answered 200 and were "not enforced": no uptime, 200-rate or latency sees them.
    assert window.health.n_total == len(rows["health"]) and window.health.n_ok == len(rows["health"])
    assert counted == len(rows["health"]) + len(rows["chat"])
    # Chat rows roll up on their time to first token, not the whole stream.
    assert (chat.n_total, chat.n_200, chat.latency_n) == (len(rows["chat"]),) * 3
    assert chat.latency_sum_ms == pytest.approx(sum(r.ttft_ms or 0 for r in rows["chat"]))


def test_the_key_is_never_in_a_row_or_a_log_line(mixed_run: MixedRun) -> None:
    assert mixed_run.log_lines, "the prober logged nothing: the check below would prove nothing"
    assert not [line for line in mixed_run.log_lines if KEY in line]
    with session_scope(mixed_run.url) as session:
        for row in session.query(Probe).all():
            assert KEY not in " ".join(str(v) for v in vars(row).values())
    assert {r["headers"].get("authorization") for r in mixed_run.seen.requests} >= {f"Bearer {KEY}", None}


def test_chat_metrics_are_exported_by_target(mixed_run: MixedRun) -> None:
    count = REGISTRY.get_sample_value("clfwatch_probe_ttft_seconds_count", {"target": "llm"})
    assert count is not None and count >= 2
    rate = REGISTRY.get_sample_value("clfwatch_probe_tokens_per_second", {"target": "llm"})
    assert rate is not None and rate > 0
    assert REGISTRY.get_sample_value("clfwatch_probe_ttft_seconds_count", {"target": "clf"}) is None


def test_key_enforcement_is_checked_again_every_auth_interval(sqlite_url: str, tmp_path: Path) -> None:
    with uvicorn_thread(create_chat_app(ChatBehaviour(first_token_s=0.01, itl_s=0.001), Seen())) as llm:
        tid = register(sqlite_url, "llm", llm, token=KEY, kind=TargetKind.OPENAI_CHAT, model=MODEL)
        settings = make_settings(sqlite_url, tmp_path, probe_interval_s=1.0, probe_timeout_s=2.0,
                                 probe_auth_every_s=1.0)
        run_prober(settings, 3.5)
    auth = rows_of(sqlite_url, tid, "auth")
    # The first check within an interval of the start, then one a second: three or four checks.
    assert 4 <= len(auth) <= 8 and len(auth) % 2 == 0, len(auth)
    assert {r.outcome for r in auth} == {"ok"}


def test_one_round_probes_every_kind_of_an_llm_target(sqlite_url: str, tmp_path: Path) -> None:
    with uvicorn_thread(create_chat_app(ChatBehaviour(first_token_s=0.01, itl_s=0.001), Seen())) as llm:
        tid = register(sqlite_url, "llm", llm, token=KEY, kind=TargetKind.OPENAI_CHAT, model=MODEL)
        settings = make_settings(sqlite_url, tmp_path, probe_timeout_s=2.0)

        async def once() -> None:
            await Prober(settings).run_once()

        asyncio.run(once())
    rows = rows_of(sqlite_url, tid)
    assert sorted(r.kind for r in rows) == ["auth", "auth", "chat", "health"]
    assert {r.outcome for r in rows} == {"ok"}
