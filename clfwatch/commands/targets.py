"""``clfwatch targets add|list|remove|set-active``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from clfwatch.commands import CommandError
from clfwatch.settings import Settings
from storage.engine import session_scope
from storage.targets import (
    DEFAULT_HEALTH_PATH,
    DEFAULT_PREDICT_PATH,
    DEFAULT_PROBABILITY_POINTER,
    TargetError,
    add_target,
    list_targets,
    remove_target,
    set_active,
)


def parse_time(value: str) -> datetime:
    """ISO 8601; a time without a zone is refused rather than guessed."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"time {value!r} has no zone; add e.g. +00:00")
    return at.astimezone(UTC)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    targets = subparsers.add_parser("targets", help="register and manage classifiers")
    sub = targets.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="register a classifier")
    add.add_argument("name")
    add.add_argument("url", help="base URL, http or https")
    add.add_argument("--token", help="bearer token sent to the target (never listed)")
    add.add_argument("--predict-path", default=DEFAULT_PREDICT_PATH)
    add.add_argument("--health-path", default=DEFAULT_HEALTH_PATH)
    add.add_argument("--template", help='request body, JSON with {text} and {id} placeholders')
    add.add_argument("--probability-pointer", default=DEFAULT_PROBABILITY_POINTER)
    add.add_argument("--registered-at", type=parse_time, help="ISO 8601 with zone; default now")
    add.set_defaults(handler=run_add)

    ls = sub.add_parser("list", help="list registered classifiers")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(handler=run_list)

    rm = sub.add_parser("remove", help="delete a classifier and its probe history")
    rm.add_argument("name")
    rm.set_defaults(handler=run_remove)

    act = sub.add_parser("set-active", help="switch probing of a classifier on or off")
    act.add_argument("name")
    act.add_argument("state", choices=("on", "off"))
    act.set_defaults(handler=run_set_active)


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with session_scope(settings.database_url) as session:
            view = add_target(
                session,
                name=args.name,
                base_url=args.url,
                token=args.token,
                predict_path=args.predict_path,
                health_path=args.health_path,
                request_template=args.template,
                probability_pointer=args.probability_pointer,
                registered_at=args.registered_at,
            )
    except TargetError as exc:
        raise CommandError(str(exc)) from None
    print(f"registered {view.name} at {view.base_url}")
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        views = list_targets(session)
    rows = [
        {
            "name": v.name,
            "url": v.base_url,
            "predict_path": v.predict_path,
            "health_path": v.health_path,
            "token": "set" if v.has_token else "none",
            "registered_at": v.registered_at.isoformat(),
            "active": v.active,
        }
        for v in views
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no targets registered; add one with: clfwatch targets add NAME URL")
        return 0
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))
    return 0


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with session_scope(settings.database_url) as session:
            remove_target(session, args.name)
    except TargetError as exc:
        raise CommandError(str(exc)) from None
    print(f"removed {args.name}")
    return 0


def run_set_active(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with session_scope(settings.database_url) as session:
            view = set_active(session, args.name, args.state == "on")
    except TargetError as exc:
        raise CommandError(str(exc)) from None
    print(f"{view.name} is {'active' if view.active else 'inactive'}")
    return 0
