"""The scoreboard's one fetch: a bounded number of statements, whatever the number of targets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from scoring.board import grade_inputs, window_start
from scoring.rules import DEFAULT_RULES
from storage.engine import engine_for, session_scope
from storage.evalset import replace_eval_set
from storage.grading_inputs import GradingInputs, fetch_grading_inputs
from storage.latest_answers import latest_probabilities
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target
from tests.scoring.data import AT, healths, predicts, prober_ran

SAMPLES = {f"q{i:02d}": i % 2 for i in range(20)}


def seed(url: str, n_targets: int) -> None:
    """``n_targets`` of three kinds, so every branch of the fetch runs for each third of them.

    Recent answers to every sample; recent answers to half, with the rest only days earlier (a
    deeper slice is needed); never probed at all.
    """
    with session_scope(url) as s:
        replace_eval_set(s, [(k, f"text {k}", v) for k, v in SAMPLES.items()])
        prober_ran(s, AT - timedelta(days=6), AT)
        rows: list[ProbeRow] = []
        ids = sorted(SAMPLES)
        for i in range(n_targets):
            target = add_target(s, name=f"team-{i:03d}", base_url="http://127.0.0.1:9",
                                registered_at=AT - timedelta(days=5, minutes=i)).id
            kind = i % 3
            if kind == 2:
                continue
            rows += healths(target, AT - timedelta(hours=3), 5, 1)
            if kind == 1:
                rows += predicts(target, AT - timedelta(days=4), [(k, 0.3) for k in ids], latency_ms=80.0)
                recent = ids[:10] * 12  # 120 newest predict probes: more than the first slice
            else:
                recent = ids * 6
            rows += predicts(target, AT - timedelta(hours=2, minutes=30),
                             [(k, 0.1 + 0.8 * SAMPLES[k]) for k in recent], latency_ms=120.0 + i)
        record_probes(s, rows)


@contextmanager
def counted_statements(url: str) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = engine_for(url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def fetch(url: str) -> tuple[GradingInputs, int]:
    with session_scope(url) as s, counted_statements(url) as statements:
        inputs = fetch_grading_inputs(
            s, at=AT, window_start=lambda reg: window_start(reg, AT, DEFAULT_RULES),
            latency_statistic=DEFAULT_RULES.latency_statistic,
        )
    return inputs, len(statements)


@pytest.mark.parametrize("db", ["sqlite_url", "pg_url"])
def test_fetch_statements_do_not_grow_with_targets(db: str, request: pytest.FixtureRequest,
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    small_url = request.getfixturevalue(db)
    seed(small_url, 3)
    small, small_count = fetch(small_url)
    # a second, larger database of the same kind
    if db == "sqlite_url":
        from storage.engine import upgrade_database

        large_url = f"sqlite:///{tmp_path_factory.mktemp('large') / 'large.db'}"
        upgrade_database(large_url)
    else:
        large_url = next(iter(_second_pg(request)))
    seed(large_url, 30)
    large, large_count = fetch(large_url)
    assert len(small.targets) == 3 and len(large.targets) == 30
    assert small_count == large_count, (small_count, large_count)
    assert small_count <= 20
    # what was fetched is what a target-by-target read gives: every sample, the newest answer
    with session_scope(large_url) as s:
        for t in large.targets:
            assert dict(t.probabilities) == latest_probabilities(s, t.target_id, AT, sample_ids=SAMPLES)
    by_name = {t.name: t for t in large.targets}
    assert len(by_name["team-000"].probabilities) == len(SAMPLES)
    assert len(by_name["team-001"].probabilities) == len(SAMPLES)  # half only in the deeper slice
    assert by_name["team-001"].probabilities["q19"] == pytest.approx(0.3)
    assert by_name["team-002"].probabilities == {} and by_name["team-002"].last_probe_at is None
    # and it grades without a session
    board = grade_inputs(large, rules=DEFAULT_RULES, baseline_auc=0.6)
    assert [t.name for t in board.targets][:1] == ["team-000"]


def _second_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    from storage.engine import upgrade_database
    from tests.conftest import _pg_database

    gen = _pg_database(request.getfixturevalue("pg_admin_engine"))
    url = next(gen)
    request.addfinalizer(lambda: next(gen, None))
    upgrade_database(url)
    yield url


def test_labels_and_answers_stay_out_of_repr(sqlite_url: str) -> None:
    seed(sqlite_url, 1)
    inputs, _ = fetch(sqlite_url)
    text = repr(inputs)
    assert "team-000" in text
    for sample_id in SAMPLES:
        assert sample_id not in text
