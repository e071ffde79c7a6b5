"""``clfwatch targets add|update|key|list|remove|set-active``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from clfwatch.commands import print_rows
from core.settings import Settings
from storage.engine import session_scope
from storage.targets import (
    DEFAULT_HEALTH_PATH,
    DEFAULT_PREDICT_PATH,
    DEFAULT_PROBABILITY_POINTER,
    TargetView,
    add_target,
    issue_team_key,
    list_targets,
    remove_target,
    set_active,
    update_target,
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

    up = sub.add_parser("update", help="change a classifier in place; id, history and lifetime stay")
    up.add_argument("name")
    up.add_argument("--name", dest="new_name", metavar="NEW", help="new team name")
    up.add_argument("--url", help="new base URL, http or https")
    tok = up.add_mutually_exclusive_group()
    tok.add_argument("--token", help="new bearer token sent to the target (never listed)")
    tok.add_argument("--no-token", action="store_true", help="send no token any more")
    up.add_argument("--predict-path")
    up.add_argument("--health-path")
    tpl = up.add_mutually_exclusive_group()
    tpl.add_argument("--template", help="request body, JSON with {text} and {id} placeholders")
    tpl.add_argument("--no-template", action="store_true", help="back to the contract's body")
    up.add_argument("--probability-pointer")
    up.set_defaults(handler=run_update)

    key = sub.add_parser("key", help="issue a new team key (the old one stops working)")
    key.add_argument("name")
    key.set_defaults(handler=run_key)

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
    _warn(view)
    print(f"registered {view.name} at {view.base_url}")
    return 0


def _warn(view: TargetView) -> None:
    for warning in view.warnings:
        print(f"clfwatch: {warning}", file=sys.stderr)


def run_update(args: argparse.Namespace, settings: Settings) -> int:
    changes = {
        "name": args.new_name,
        "base_url": args.url,
        "token": args.token,
        "predict_path": args.predict_path,
        "health_path": args.health_path,
        "request_template": args.template,
        "probability_pointer": args.probability_pointer,
    }
    with session_scope(settings.database_url) as session:
        view = update_target(
            session, args.name, actor="operator", clear_token=args.no_token,
            clear_template=args.no_template, **changes,
        )
    _warn(view)
    print(f"updated {view.name} (id {view.id}) at {view.base_url}")
    return 0


def run_key(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        key = issue_team_key(session, args.name, actor="operator")
    print(key)
    print("clfwatch: the key is shown once; the previous key no longer works", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        views = list_targets(session)
    now = datetime.now(UTC)
    rows = [
        {
            "id": v.id,
            "name": v.name,
            "url": v.base_url,
            "predict_path": v.predict_path,
            "health_path": v.health_path,
            "token": "set" if v.has_token else "none",
            "registered_at": v.registered_at.astimezone(UTC).isoformat(),
            "lifetime_s": round(max(0.0, (now - v.registered_at).total_seconds()), 1),
            "active": v.active,
            "self_service": v.self_service,
        }
        for v in views
    ]
    print_rows(
        rows, as_json=args.format == "json",
        empty="no targets registered; add one with: clfwatch targets add NAME URL",
    )
    return 0


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        remove_target(session, args.name)
    print(f"removed {args.name}")
    return 0


def run_set_active(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        view = set_active(session, args.name, args.state == "on")
    print(f"{view.name} is {'active' if view.active else 'inactive'}")
    return 0
