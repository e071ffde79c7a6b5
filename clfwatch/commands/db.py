"""``clfwatch db upgrade``."""

from __future__ import annotations

import argparse

from sqlalchemy.exc import OperationalError

from clfwatch.commands import CommandError
from core.settings import Settings
from storage.engine import upgrade_database, wait_for_database


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = subparsers.add_parser("db", help="database schema")
    sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="wait for the database, then migrate it to the newest schema")
    up.add_argument("--wait-s", type=int, default=60, help="seconds to wait for the database")
    up.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    try:
        wait_for_database(settings.database_url, tries=max(1, args.wait_s), sleep_s=1.0)
    except OperationalError:
        raise CommandError(f"database not reachable after {args.wait_s} s") from None
    upgrade_database(settings.database_url)
    print("database is at the newest schema")
    return 0
