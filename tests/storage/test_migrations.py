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
