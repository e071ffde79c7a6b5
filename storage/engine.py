"""Engines and sessions for SQLite and Postgres, and the bounded wait for a database."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
DB_WAIT_TRIES = 60
DB_WAIT_SLEEP_S = 1.0
ALEMBIC_VERSION_TABLE = "alembic_version"  # Alembic's default; env.py does not rename it


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers (dashboard) never block the prober
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A new engine for ``url``; SQLite gets WAL and foreign keys, Postgres pre-ping."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 5)
    return create_engine(url, **kwargs)


ENGINES_KEPT = 8
_engines: OrderedDict[str, tuple[Engine, sessionmaker[Session]]] = OrderedDict()
_engines_lock = threading.Lock()


def _database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """The engine of ``url`` and its session factory, kept together for the last few URLs used.

    One cache for both: two caches could drop the same URL at different times, and sessions
    would then run on another engine than ``engine_for`` gives (a listener on one never sees
    the other's statements). A URL dropped from it has its idle connections closed.
    """
    with _engines_lock:
        found = _engines.get(url)
        if found is not None:
            _engines.move_to_end(url)
            return found
        engine = make_engine(url)
        found = _engines[url] = (engine, sessionmaker(engine, expire_on_commit=False))
        dropped = _engines.popitem(last=False)[1][0] if len(_engines) > ENGINES_KEPT else None
    if dropped is not None:
        dropped.dispose()  # its idle connections close; one in use stays open until given back
    return found


def engine_for(url: str) -> Engine:
    """One shared engine per URL in this process."""
    return _database(url)[0]


def _sessionmaker(url: str) -> sessionmaker[Session]:
    return _database(url)[1]


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session on the shared engine for ``url``; commits on success, rolls back on error."""
    with transaction(_sessionmaker(url)) as session:
        yield session


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session from ``factory`` that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def wait_for_database(
    url: str, *, tries: int = DB_WAIT_TRIES, sleep_s: float = DB_WAIT_SLEEP_S
) -> None:
    """Block until the database answers ``SELECT 1``; raise after ``tries`` attempts."""
    engine = engine_for(url)
    for attempt in range(1, tries + 1):
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            if attempt == tries:
                raise
            log.warning(
                "event=db_wait attempt=%d of=%d error=%s",
                attempt, tries, type(exc.orig).__name__ if exc.orig else "OperationalError",
            )
            time.sleep(sleep_s)


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, built in code: the migrations shipped in ``storage.migrations``.

    Needs no ``alembic.ini`` and no particular working directory, so an installed wheel can
    migrate. ``url`` is handed to ``env.py``; without it ``env.py`` reads the settings.
    """
    from alembic.config import Config

    from storage.migrations import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["database_url"] = url
    return config


def upgrade_database(url: str) -> None:
    """Run ``alembic upgrade head`` against ``url``."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def database_revision(url: str) -> str | None:
    """The database's alembic revision, or None when it was never migrated.

    Reads alembic's version table with plain SQLAlchemy: importing Alembic would cost every
    command ~0.15 s for a one-row SELECT. Raises OperationalError when the database does not
    answer. Several rows (branched heads, which we never make) come back joined by commas, so
    they never equal a single head.
    """
    with engine_for(url).connect() as conn:
        if not inspect(conn).has_table(ALEMBIC_VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")).scalars().all()
    return ",".join(sorted(rows)) or None


def schema_revisions(url: str) -> tuple[str | None, str]:
    """(the database's alembic revision or None when never migrated, the newest revision).

    Raises OperationalError when the database does not answer.
    """
    from storage.migrations import SCHEMA_HEAD

    return database_revision(url), SCHEMA_HEAD
