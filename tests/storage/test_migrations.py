"""The migrations build exactly the models, on SQLite and Postgres."""

from __future__ import annotations

import pytest
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


def test_schema_head_is_alembics_head() -> None:
    """Every command compares the database with SCHEMA_HEAD, not with Alembic's scripts."""
    from alembic.script import ScriptDirectory

    from storage.engine import alembic_config
    from storage.migrations import SCHEMA_HEAD

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == SCHEMA_HEAD, (
        f"storage/migrations/__init__.py SCHEMA_HEAD is {SCHEMA_HEAD!r} but the newest migration is"
        f" {head!r}: bump SCHEMA_HEAD with every new migration, or clfwatch commands will refuse"
        " (or re-migrate) every database"
    )


def test_schema_revisions_read_what_alembic_reads(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Never migrated, at an older revision, at head: the same answer as Alembic's own."""
    from storage.engine import schema_revisions
    from storage.migrations import SCHEMA_HEAD

    def alembic_current(url: str) -> str | None:
        with engine_for(url).connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    assert schema_revisions(db_url) == (alembic_current(db_url), SCHEMA_HEAD) == (SCHEMA_HEAD, SCHEMA_HEAD)
    old = f"sqlite:///{tmp_path / 'old.db'}"
    assert schema_revisions(old) == (alembic_current(old), SCHEMA_HEAD) == (None, SCHEMA_HEAD)
    _upgrade_to(old, "0009")
    assert schema_revisions(old) == (alembic_current(old), SCHEMA_HEAD) == ("0009", SCHEMA_HEAD)
    engine_for(old).dispose()


def test_probes_survive_migration_0003(tmp_path, pg_admin_engine) -> None:  # type: ignore[no-untyped-def]
    """SQLite batch mode copies and drops ``targets``; its probes must not be cascade-deleted."""
    from alembic import command

    from storage.engine import alembic_config
    from tests.conftest import _pg_database

    def at_0002(url: str) -> None:
        command.upgrade(alembic_config(url), "0002")

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


def test_migration_0005_rebuilds_rollups_from_ok_probes(tmp_path, pg_admin_engine) -> None:  # type: ignore[no-untyped-def]
    """Rollups written the old way (every answered probe) hold ok-only latencies after 0005."""
    from tests.conftest import _pg_database

    pg = _pg_database(pg_admin_engine)
    try:  # a database at 0004, not the fixture's (already at head)
        for url in (f"sqlite:///{tmp_path / 'old.db'}", next(pg)):
            _check_0005(url)
    finally:
        pg.close()  # type: ignore[attr-defined]


def _upgrade_to(url: str, revision: str, *, down: bool = False) -> None:
    from alembic import command

    from storage.engine import alembic_config

    (command.downgrade if down else command.upgrade)(alembic_config(url), revision)
    engine_for(url).dispose()


def _old_rollups(conn, rows) -> None:  # type: ignore[no-untyped-def]
    """Rollups and bins as record_probes wrote them before 0005: latency of every answered probe."""
    from collections import defaultdict

    from sqlalchemy import bindparam, text

    from storage.models import UTCDateTime
    from storage.probes import hour_floor, latency_bin_edge

    sums: dict = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    counts: dict = defaultdict(int)
    for _uid, kind, at, outcome, status, latency in rows:
        acc = sums[(kind, hour_floor(at))]
        acc[0] += 1
        acc[1] += outcome == "ok"
        acc[2] += status == 200
        if latency is not None:
            acc[3] += 1
            acc[4] += latency
            counts[(kind, hour_floor(at), latency_bin_edge(latency))] += 1
    for (kind, hour), a in sums.items():
        conn.execute(text(
            "INSERT INTO probe_rollups (target_id, kind, bucket_start, n_total, n_ok, n_200, latency_n,"
            " latency_sum_ms) VALUES (7, :k, :b, :n, :ok, :n200, :ln, :ls)"
        ).bindparams(bindparam("b", type_=UTCDateTime())),
           dict(k=kind, b=hour, n=a[0], ok=a[1], n200=a[2], ln=a[3], ls=a[4]))
    for (kind, hour, edge), n in counts.items():
        conn.execute(text(
            "INSERT INTO probe_latency_bins (target_id, kind, bucket_start, le_ms, n)"
            " VALUES (7, :k, :b, :le, :n)"
        ).bindparams(bindparam("b", type_=UTCDateTime())), dict(k=kind, b=hour, le=edge, n=n))


def _check_0005(url: str) -> None:
    import random
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import bindparam, text

    from storage.models import UTCDateTime
    from tests.storage.test_probes_storage import assert_rollups_match_raw

    _upgrade_to(url, "0004")
    rng = random.Random(3)
    t0 = datetime(2026, 9, 2, 0, 50, tzinfo=UTC)
    rows = []
    for i in range(300):  # three hours, every one mixing ok and failed answers, some unanswered
        outcome = rng.choice(["ok", "ok", "ok", "http_error", "bad_body", "timeout"])
        status = None if outcome == "timeout" else (200 if outcome != "http_error" else 503)
        latency = None if status is None else round(rng.lognormvariate(3, 1), 3)
        kind = rng.choice(["health", "predict"])
        rows.append((f"u{i}", kind, t0 + timedelta(seconds=36 * i), outcome, status, latency))
    assert any(r[3] != "ok" and r[5] is not None for r in rows)  # failed answers with a latency
    with engine_for(url).begin() as conn:
        conn.execute(text(
            "INSERT INTO targets (id, name, base_url, predict_path, health_path,"
            " probability_pointer, registered_at, active, updated_at, self_service) VALUES (7,"
            " 'old-team', 'http://127.0.0.1:1', '/predict', '/health', '/probability',"
            " '2026-09-01 00:00:00+00:00', true, '2026-09-01 00:00:00+00:00', false)"
        ))
        for uid, kind, at, outcome, status, latency in rows:
            conn.execute(text(
                "INSERT INTO probes (probe_uid, target_id, kind, started_at, outcome, status_code,"
                " latency_ms) VALUES (:u, 7, :k, :at, :o, :s, :l)"
            ).bindparams(bindparam("at", type_=UTCDateTime())),
               dict(u=uid, k=kind, at=at, o=outcome, s=status, l=latency))
        _old_rollups(conn, rows)
    engine_for(url).dispose()
    with pytest.raises(AssertionError):  # the old rollups time failed answers too
        assert_rollups_match_raw(url)
    engine_for(url).dispose()
    upgrade_database(url)
    assert_rollups_match_raw(url)  # ok-only raw latencies, per hour and per bin
    engine_for(url).dispose()
    _upgrade_to(url, "0004", down=True)  # downgrade: every answered probe again
    with engine_for(url).connect() as conn:
        n, total = conn.execute(text("SELECT sum(latency_n), sum(latency_sum_ms) FROM probe_rollups")).one()
        bins_n = conn.execute(text("SELECT sum(n) FROM probe_latency_bins")).scalar()
    answered = [r[5] for r in rows if r[5] is not None]
    assert (int(n), int(bins_n)) == (len(answered), len(answered))
    assert float(total) == pytest.approx(sum(answered))
    engine_for(url).dispose()
