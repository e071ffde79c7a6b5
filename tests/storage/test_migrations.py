"""The migrations build exactly the models, on SQLite and Postgres."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.engine import engine_for, upgrade_database
from storage.models import Base


def test_autogenerate_finds_no_difference(db_url: str) -> None:
    with engine_for(db_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(db_url: str) -> None:
    upgrade_database(db_url)  # already at head: a second run changes nothing
    with engine_for(db_url).connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None


def test_probes_survive_migration_0003(tmp_path, pg_admin_engine) -> None:  # type: ignore[no-untyped-def]
    """SQLite batch mode copies and drops ``targets``; its probes must not be cascade-deleted."""
    from alembic.config import Config

    from alembic import command
    from storage.engine import ALEMBIC_INI
    from tests.conftest import _pg_database

    def at_0002(url: str) -> None:
        config = Config(str(ALEMBIC_INI))
        config.set_main_option("script_location", str(ALEMBIC_INI.parent / "alembic"))
        config.attributes["database_url"] = url
        command.upgrade(config, "0002")

    pg = _pg_database(pg_admin_engine)
    try:  # a database at 0002, not the fixture's (already at head)
        for url in (f"sqlite:///{tmp_path / 'old.db'}", next(pg)):
            _check_probes_survive(url, at_0002)
    finally:
        pg.close()  # type: ignore[attr-defined]


def _check_probes_survive(url: str, at_0002) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    at_0002(url)
    with engine_for(url).begin() as conn:
        conn.execute(text(
            "INSERT INTO targets (id, name, base_url, predict_path, health_path,"
            " probability_pointer, registered_at, active, updated_at) VALUES (7, 'old-team',"
            " 'http://127.0.0.1:1', '/predict', '/health', '/probability',"
            " '2026-09-01 00:00:00+00:00', true, '2026-09-01 00:00:00+00:00')"
        ))
        conn.execute(text(
            "INSERT INTO probes (probe_uid, target_id, kind, started_at, outcome)"
            " VALUES ('u1', 7, 'health', '2026-09-02 00:00:00+00:00', 'ok')"
        ))
    engine_for(url).dispose()
    upgrade_database(url)
    with engine_for(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM probes WHERE target_id = 7")).scalar() == 1
        row = conn.execute(text("SELECT name, self_service FROM targets")).one()
        assert row[0] == "old-team" and not row[1]
    engine_for(url).dispose()
