"""A reused Postgres test database (tests/conftest.py ``PgSpares``) is what a fresh copy of the
template would be: no rows, sequences at their start, no other connection; one whose schema a
test changed is dropped, never handed to the next test."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from storage.engine import engine_for, session_scope
from storage.targets import add_target
from tests.conftest import PgSpares


def test_a_given_back_database_comes_back_empty_with_its_sequences_restarted(
    pg_spares: PgSpares,
) -> None:
    url = pg_spares.take()
    with session_scope(url) as session:
        first = add_target(session, name="team-a", base_url="http://127.0.0.1:1").id
        add_target(session, name="team-b", base_url="http://127.0.0.1:2")
    lingering = create_engine(url).connect()  # a connection a test's server left open
    pg_spares.give_back(url)
    assert pg_spares.take() == url
    try:
        with session_scope(url) as session:
            assert session.execute(text("SELECT count(*) FROM targets")).scalar_one() == 0
            assert session.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            assert add_target(session, name="team-c", base_url="http://127.0.0.1:3").id == first
        active = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        with engine_for(url).connect() as conn:
            assert conn.execute(active).scalar_one() == 1  # only this one: the lingering one was cut
    finally:
        lingering.invalidate()
        pg_spares.give_back(url)


def test_a_database_whose_schema_changed_is_dropped(
    pg_admin_engine, pg_spares: PgSpares  # type: ignore[no-untyped-def]
) -> None:
    url = pg_spares.take()
    with engine_for(url).begin() as conn:
        conn.execute(text("ALTER TABLE targets ADD COLUMN extra integer"))
    pg_spares.give_back(url)
    assert url not in pg_spares.urls
    name = url.rsplit("/", 1)[1]
    with pg_admin_engine.connect() as conn:
        found = conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name})
        assert found.scalar_one() == 0
