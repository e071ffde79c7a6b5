"""``clfwatch db upgrade`` migrates; ``clfwatch db wait`` waits for someone else to.

``wait`` is what a workload runs before it starts where a separate job migrates (the init
containers of deploy/k8s): the pods of a fresh cluster then come up in any order, each
waiting for the migration instead of crash-looping on an old schema.
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy.exc import OperationalError

from clfwatch.commands import CommandError
from core.settings import Settings
from storage.engine import schema_revisions, upgrade_database, wait_for_database

WAIT_POLL_S = 2.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = subparsers.add_parser("db", help="database schema")
    sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="wait for the database, then migrate it to the newest schema")
    up.add_argument("--wait-s", type=int, default=60, help="seconds to wait for the database")
    up.set_defaults(handler=run_upgrade)
    wait = sub.add_parser(
        "wait", help="wait until the database answers and is at the newest schema (migrates nothing)"
    )
    wait.add_argument("--wait-s", type=int, default=300, help="seconds to wait in all")
    wait.set_defaults(handler=run_wait)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    try:
        wait_for_database(settings.database_url, tries=max(1, args.wait_s), sleep_s=1.0)
    except OperationalError:
        raise CommandError(f"database not reachable after {args.wait_s} s") from None
    upgrade_database(settings.database_url)
    print("database is at the newest schema")
    return 0


def run_wait(args: argparse.Namespace, settings: Settings) -> int:
    deadline = time.monotonic() + max(1, args.wait_s)
    state = "not reachable"
    while True:
        try:
            current, head = schema_revisions(settings.database_url)
        except OperationalError:
            state = "not reachable"
        else:
            if current == head:
                print(f"database is at the newest schema ({head})")
                return 0
            state = "never migrated" if current is None else f"at schema {current}, not {head}"
        if time.monotonic() >= deadline:
            raise CommandError(
                f"database still {state} after {args.wait_s} s; run `clfwatch db upgrade` (the migrate job)"
            )
        time.sleep(WAIT_POLL_S)
