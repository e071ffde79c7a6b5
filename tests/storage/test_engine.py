"""``engine_for`` and ``session_scope`` share one cache of the last URLs used: a session runs on
the engine ``engine_for`` gives even after other URLs came and went, and an engine dropped from
the cache has its idle connections closed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.engine import ENGINES_KEPT, engine_for, session_scope


def test_sessions_run_on_engine_for_after_the_cache_turned_over(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'db{i}.db'}" for i in range(ENGINES_KEPT + 3)]
    first = urls[0]
    with session_scope(first) as session:
        session.execute(text("SELECT 1"))
    old = engine_for(first)
    assert old.pool.checkedin() == 1  # an idle pooled connection
    for url in urls[1:]:  # the first URL is dropped from the cache meanwhile
        with session_scope(url) as session:
            session.execute(text("SELECT 1"))
    assert old.pool.checkedin() == 0, "the dropped engine kept its idle connection open"
    with session_scope(first) as session:
        assert session.get_bind() is engine_for(first)
    assert engine_for(first) is not old
    for url in urls:
        engine_for(url).dispose()
