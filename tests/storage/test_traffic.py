"""The traffic ring's table: texts only, pruned to N, on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect

from storage.engine import engine_for, session_scope
from storage.models import TRAFFIC_TEXT_MAX_CHARS
from storage.traffic import add_traffic_texts, count_traffic_texts, prune_traffic_texts, traffic_sample

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _rows(start: int, n: int) -> list[tuple[datetime, str]]:
    return [(T0 + timedelta(seconds=i), f"text {i}") for i in range(start, start + n)]


def test_ring_keeps_the_newest_n(db_url: str) -> None:
    with session_scope(db_url) as session:
        assert add_traffic_texts(session, _rows(0, 7), keep=10) == 0
        assert add_traffic_texts(session, _rows(7, 7), keep=10) == 4
    with session_scope(db_url) as session:
        assert count_traffic_texts(session) == 10
        sample = traffic_sample(session)
    assert sample.texts == [f"text {i}" for i in range(4, 14)]  # oldest first, the first four gone
    assert (sample.first_at, sample.last_at) == (T0 + timedelta(seconds=4), T0 + timedelta(seconds=13))


def test_a_batch_bigger_than_the_ring_keeps_its_end(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_traffic_texts(session, _rows(0, 25), keep=5)
    with session_scope(db_url) as session:
        assert traffic_sample(session).texts == [f"text {i}" for i in range(20, 25)]
        assert prune_traffic_texts(session, keep=2) == 3
        assert count_traffic_texts(session) == 2


def test_empty_ring_and_empty_batch(db_url: str) -> None:
    with session_scope(db_url) as session:
        assert add_traffic_texts(session, [], keep=5) == 0
        assert prune_traffic_texts(session, keep=0) == 0
        assert traffic_sample(session) == ([], None, None)


def test_long_texts_are_cut_and_nothing_but_texts_is_kept(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_traffic_texts(session, [(T0, "я" * (TRAFFIC_TEXT_MAX_CHARS + 50))], keep=5)
    with session_scope(db_url) as session:
        (text,) = traffic_sample(session).texts
    assert text == "я" * TRAFFIC_TEXT_MAX_CHARS
    columns = {c["name"] for c in inspect(engine_for(db_url)).get_columns("traffic_texts")}
    assert columns == {"id", "received_at", "text"}  # no request id, sample id, token or header
