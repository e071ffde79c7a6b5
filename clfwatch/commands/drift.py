"""``clfwatch drift run [TARGET] [--since TIME] | --traffic``: model changes per target, or text drift.

``--traffic`` compares the reference service's recent texts with its training data instead.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clfwatch.commands import CommandError
from core.settings import Settings

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """An aware UTC time from ISO 8601 (a time zone or Z required) or an age such as 90m, 6h, 7d."""
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount, unit = relative.groups()
        return (now or datetime.now(UTC)) - timedelta(**{_UNIT[unit]: float(amount)})
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {value!r}; give ISO 8601 such as 2026-12-01T10:00:00Z, or an age such as 6h or 7d"
        ) from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone; add Z for UTC, e.g. {value}Z")
    return at.astimezone(UTC)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    drift = subparsers.add_parser("drift", help="find when team classifiers changed their answers")
    sub = drift.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = sub.add_parser(
        "run", help="model changes per target (or for one), with an Evidently report for each new one"
    )
    run.add_argument("target", nargs="?", help="target name; default: every active target")
    run.add_argument("--since", type=parse_since, metavar="TIME",
                     help="probes from this time on: ISO 8601 with a zone, or an age (6h, 7d); default 7d")
    run.add_argument(
        "--html-dir", type=Path, help="where the HTML reports go (default: CLFWATCH_DRIFT_DIR, var/drift)"
    )
    run.add_argument(
        "--traffic", action="store_true",
        help="compare the texts the reference service was asked to classify with service/data/train.csv",
    )
    run.add_argument("--format", choices=("table", "json"), default="table")
    run.set_defaults(handler=run_drift_command)


def run_drift_command(args: argparse.Namespace, settings: Settings) -> int:
    from drift.reports import run_drift

    if args.traffic:
        if args.target or args.since:
            raise CommandError("--traffic compares the reference service's texts; drop TARGET and --since")
        return run_traffic_command(args, settings)
    results = run_drift(
        settings.database_url, target_name=args.target, settings=settings,
        since=args.since, html_dir=args.html_dir,
    )
    document = {"targets": [r.to_dict() for r in results]}
    if args.format == "json":
        print(json.dumps(document, indent=2))
        return 0
    if not results:
        print("no active targets; register one with: clfwatch targets add NAME URL")
        return 0
    for result in results:
        for line in result.lines():
            print(line)
    return 0


def run_traffic_command(args: argparse.Namespace, settings: Settings) -> int:
    from drift.traffic import NotEnoughDataError, run_traffic_drift
    from service.data import DATA_DIR, TRAIN_FILE

    try:
        result = run_traffic_drift(settings, train_csv=DATA_DIR / TRAIN_FILE, html_dir=args.html_dir)
    except NotEnoughDataError as exc:
        if args.format == "json":
            print(json.dumps({"traffic": None, "reason": str(exc)}, indent=2))
        else:
            print(exc)
        return 0  # nothing to compare yet, like a drift run with no targets
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        for line in result.lines():
            print(line)
    return 0
