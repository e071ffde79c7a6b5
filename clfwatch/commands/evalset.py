"""``clfwatch eval load FILE.csv``: all or nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from clfwatch.commands import CommandError
from core.settings import Settings
from storage.engine import session_scope
from storage.evalset import EvalSetError, parse_eval_csv, replace_eval_set


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ev = subparsers.add_parser("eval", help="the hidden labelled evaluation set")
    sub = ev.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = sub.add_parser("load", help="replace the evaluation set with FILE (id,text,label)")
    load.add_argument("file", type=Path)
    load.set_defaults(handler=run_load)


def run_load(args: argparse.Namespace, settings: Settings) -> int:
    try:
        content = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {type(exc).__name__}") from None
    try:
        rows = parse_eval_csv(content)
    except EvalSetError as exc:
        raise CommandError(f"{args.file}: {exc}; nothing was loaded") from None
    with session_scope(settings.database_url) as session:
        count = replace_eval_set(session, rows)
    positives = sum(label for _, _, label in rows)
    print(f"loaded {count} samples ({positives} labelled bot)")
    return 0
