"""``clfwatch targets add|update|key|list|remove|set-active``."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime

from clfwatch.commands import TOKEN_HELP_STDIN, CommandError, print_rows, token_argument
from core.contract import TargetKind
from core.settings import Settings
from storage.engine import session_scope
from storage.targets import (
    DEFAULT_PATHS,
    DEFAULT_PROBABILITY_POINTER,
    TargetView,
    add_target,
    get_target,
    issue_team_key,
    list_targets,
    remove_target,
    set_active,
    update_target,
    validate_name,
    validate_url,
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
    targets = subparsers.add_parser("targets", help="register and manage targets (classifiers, LLMs)")
    sub = targets.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="register a classifier or an openai-chat service")
    add.add_argument("name")
    add.add_argument("url", help="base URL, http or https (for openai-chat: without /v1)")
    add.add_argument("--kind", choices=[k.value for k in TargetKind], default=TargetKind.CLASSIFIER,
                     help="what the target serves (default classifier)")
    add.add_argument("--token", type=token_argument,
                     help="bearer token sent to the target (never listed); required for openai-chat"
                          + TOKEN_HELP_STDIN)
    add.add_argument("--model", help="openai-chat: the model to ask for; default: the first "
                                     "GET URL/v1/models lists")
    predict, health = DEFAULT_PATHS[TargetKind.CLASSIFIER]
    chat_predict, chat_health = DEFAULT_PATHS[TargetKind.OPENAI_CHAT]
    add.add_argument("--predict-path", help=f"default {predict} ({chat_predict} for openai-chat)")
    add.add_argument("--health-path", help=f"default {health} (openai-chat: {chat_health}; empty: "
                                           "its health is GET /v1/models)")
    add.add_argument("--template", help='classifier only: request body, JSON with {text} and {id} '
                                        'placeholders')
    add.add_argument("--probability-pointer",
                     help=f"classifier only: default {DEFAULT_PROBABILITY_POINTER}")
    add.add_argument("--registered-at", type=parse_time, help="ISO 8601 with zone; default now")
    add.set_defaults(handler=run_add)

    up = sub.add_parser("update", help="change a target in place; id, history and lifetime stay")
    up.add_argument("name")
    up.add_argument("--name", dest="new_name", metavar="NEW", help="new team name")
    up.add_argument("--url", help="new base URL, http or https")
    tok = up.add_mutually_exclusive_group()
    tok.add_argument("--token", type=token_argument,
                     help="new bearer token sent to the target (never listed)" + TOKEN_HELP_STDIN)
    tok.add_argument("--no-token", action="store_true", help="send no token any more")
    up.add_argument("--predict-path")
    up.add_argument("--health-path")
    tpl = up.add_mutually_exclusive_group()
    tpl.add_argument("--template", help="request body, JSON with {text} and {id} placeholders")
    tpl.add_argument("--no-template", action="store_true", help="back to the contract's body")
    up.add_argument("--probability-pointer")
    up.add_argument("--model", help="openai-chat: the model every chat probe asks for")
    up.set_defaults(handler=run_update)

    key = sub.add_parser("key", help="issue a new team key (the old one stops working)")
    key.add_argument("name")
    key.set_defaults(handler=run_key)

    ls = sub.add_parser("list", help="list registered targets")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(handler=run_list)

    rm = sub.add_parser("remove", help="delete a target and its probe history")
    rm.add_argument("name")
    rm.set_defaults(handler=run_remove)

    act = sub.add_parser("set-active", help="switch probing of a target on or off")
    act.add_argument("name")
    act.add_argument("state", choices=("on", "off"))
    act.set_defaults(handler=run_set_active)


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    if args.kind == TargetKind.OPENAI_CHAT:
        return _add_openai_chat(args, settings)
    if args.model is not None:
        raise CommandError("--model is for openai-chat targets; add --kind openai-chat, or leave it out")
    with session_scope(settings.database_url) as session:
        view = add_target(
            session,
            name=args.name,
            base_url=args.url,
            token=args.token,
            predict_path=args.predict_path,
            health_path=args.health_path,
            request_template=args.template,
            probability_pointer=args.probability_pointer or DEFAULT_PROBABILITY_POINTER,
            registered_at=args.registered_at,
        )
    _warn(view)
    print(f"registered {view.name} at {view.base_url}")
    return 0


def _add_openai_chat(args: argparse.Namespace, settings: Settings) -> int:
    """Check what is cheap first, then ask the server for its model, store, then check the key."""
    for flag, value in (("--template", args.template), ("--probability-pointer", args.probability_pointer)):
        if value is not None:
            raise CommandError(
                f"{flag} belongs to classifiers: an openai-chat target is asked the OpenAI chat "
                f"format; leave {flag} out (or use --kind classifier)"
            )
    # Lazily: httpx and the probes are needed only here, not by every `targets` command.
    from probes.llm_registration import check_key_after_registration, resolve_model

    validate_name(args.name)  # a typo in the name or URL is refused before any request
    base_url = validate_url(args.url)
    chosen = resolve_model(base_url=base_url, token=args.token, model=args.model)
    if chosen.note:
        print(f"clfwatch: {chosen.note}; choose another with "
              f"clfwatch targets update {shlex.quote(args.name)} --model M", file=sys.stderr)
    with session_scope(settings.database_url) as session:
        view = add_target(
            session,
            name=args.name,
            base_url=base_url,
            token=args.token,
            predict_path=args.predict_path,
            health_path=args.health_path,
            registered_at=args.registered_at,
            kind=TargetKind.OPENAI_CHAT,
            model=chosen.model,
        )
    _warn(view)
    print(f"registered {view.name} at {view.base_url} (openai-chat, model {view.model})")
    with session_scope(settings.database_url) as session:
        check = check_key_after_registration(session, view.id)
    if check.warning:
        print(f"clfwatch: {check.warning}", file=sys.stderr)
    elif check.enforced:
        print("key enforced: requests without the key and with a wrong key were refused")
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
        "model": args.model,
    }
    with session_scope(settings.database_url) as session:
        if args.no_token and get_target(session, args.name).kind == TargetKind.OPENAI_CHAT:
            raise CommandError(
                "an openai-chat target needs the bearer key its service demands; give a new one "
                "with --token KEY instead of --no-token"
            )
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
    as_json = args.format == "json"
    rows = [
        {
            "id": v.id,
            "name": v.name,
            "kind": v.kind,
            "model": v.model if as_json else v.model or "-",
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
        rows, as_json=as_json,
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
