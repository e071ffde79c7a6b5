"""``clfwatch drift run [TARGET]``: one Evidently drift report per target, one line each."""

from __future__ import annotations

import argparse
from pathlib import Path

from clfwatch.commands import CommandError
from core.settings import Settings


def _positive_hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {value!r}") from None
    if not hours > 0:
        raise argparse.ArgumentTypeError(f"hours must be positive, got {value!r}")
    return hours


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    drift = subparsers.add_parser("drift", help="compare what targets were sent and answered over time")
    sub = drift.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="compute a drift report per target (or for one)")
    run.add_argument("target", nargs="?", help="target name; default: every active target")
    # Defaults live in drift.reports; importing it here would load pandas for every command.
    run.add_argument("--reference-hours", type=_positive_hours,
                     help="length of the reference window at the start of the history (default 24)")
    run.add_argument("--current-hours", type=_positive_hours,
                     help="length of the current window at the end of the history (default 24)")
    run.add_argument(
        "--html-dir", type=Path, help="where the HTML reports go (default: CLFWATCH_DRIFT_DIR, var/drift)"
    )
    run.set_defaults(handler=run_drift_command)


def run_drift_command(args: argparse.Namespace, settings: Settings) -> int:
    from drift.reports import DriftError, run_drift

    options = {
        key: value
        for key, value in (
            ("reference_hours", args.reference_hours),
            ("current_hours", args.current_hours),
            ("html_dir", args.html_dir),
        )
        if value is not None
    }
    try:
        summaries = run_drift(settings.database_url, target_name=args.target, settings=settings, **options)
    except DriftError as exc:
        raise CommandError(str(exc)) from None
    if not summaries:
        print("no active targets; register one with: clfwatch targets add NAME URL")
        return 0
    for summary in summaries:
        print(summary.line())
    return 0
