"""``clfwatch alerts add|list|remove|test``: where messages about incidents go."""

from __future__ import annotations

import argparse

from alerts.channels import (
    ChannelError,
    ChannelURLError,
    add_channel,
    remove_channel,
    send_test_message,
)
from clfwatch.commands import CommandError, print_rows
from core.settings import Settings
from storage.alerts import all_channels
from storage.engine import session_scope
from storage.targets import TargetError, get_target

EVERY_TARGET = "(every target)"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    alerts = subparsers.add_parser("alerts", help="alert channels (Apprise URLs) for incidents")
    sub = alerts.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = sub.add_parser(
        "add", help="add a channel: alerts add NAME URL, or alerts add --all URL",
        description="URL is an Apprise URL, e.g. json://host/path, mailto://user:pass@host, tgram://...",
    )
    add.add_argument("--all", action="store_true", help="messages about every target")
    add.add_argument("words", nargs="+", metavar="NAME URL", help="target name and Apprise URL")
    add.set_defaults(handler=run_add)

    ls = sub.add_parser("list", help="list channels (URLs masked)")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(handler=run_list)

    rm = sub.add_parser("remove", help="delete a channel")
    rm.add_argument("id", type=int)
    rm.set_defaults(handler=run_remove)

    test = sub.add_parser("test", help="send a test message and report what the provider said")
    test.add_argument("id", type=int)
    test.set_defaults(handler=run_test)


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    words: list[str] = args.words
    if args.all and len(words) != 1:
        raise CommandError("with --all give only the URL: clfwatch alerts add --all URL", exit_code=2)
    if not args.all and len(words) != 2:
        raise CommandError(
            "give a target and a URL (clfwatch alerts add NAME URL) or --all URL", exit_code=2
        )
    url = words[-1]
    try:
        with session_scope(settings.database_url) as session:
            target_id = None if args.all else get_target(session, words[0]).id
            view = add_channel(session, target_id, url)
    except ChannelURLError as exc:
        raise CommandError(str(exc), exit_code=2) from None
    except TargetError as exc:
        raise CommandError(str(exc)) from None
    print(f"added channel {view.id} for {view.target_name or EVERY_TARGET}: {view.masked}")
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        views = all_channels(session)
    rows = [
        {"id": v.id, "target": v.target_name or EVERY_TARGET, "url": v.masked,
         "created_at": v.created_at.isoformat(timespec="seconds")}
        for v in views
    ]
    print_rows(
        rows, as_json=args.format == "json",
        empty="no alert channels; add one with: clfwatch alerts add NAME URL (or --all URL)",
    )
    return 0


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with session_scope(settings.database_url) as session:
            remove_channel(session, args.id)
    except ChannelError as exc:
        raise CommandError(str(exc)) from None
    print(f"removed channel {args.id}")
    return 0


def run_test(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with session_scope(settings.database_url) as session:
            error = send_test_message(session, args.id)
    except ChannelError as exc:
        raise CommandError(str(exc)) from None
    if error is not None:
        raise CommandError(f"channel {args.id}: the provider did not take the test message: {error}")
    print(f"channel {args.id}: test message sent")
    return 0
