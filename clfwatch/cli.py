"""The ``clfwatch`` console script: one parser, a module per command group.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)``; a handler returns the exit
code. Expected failures raise ``CommandError`` and print one line; nothing prints a traceback
at a user who only typed a bad argument.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

from clfwatch.commands import CommandError
from clfwatch.logs import setup_logging
from clfwatch.settings import SettingsError, get_settings

COMMAND_MODULES = (
    "clfwatch.commands.db",
    "clfwatch.commands.targets",
    "clfwatch.commands.evalset",
    "clfwatch.commands.service",
    "clfwatch.commands.score",
    "clfwatch.commands.stress",
    "clfwatch.commands.drift",
    "clfwatch.commands.probe",
    "clfwatch.commands.dashboard",
    "clfwatch.commands.api",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clfwatch", description="Watch, stress and grade deployed text classifiers."
    )
    subparsers = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C means "stop and keep what finished" for every long command. A shell starts
    # background jobs with SIGINT ignored, and Python then never installs its handler, so
    # install it here: the behaviour must not depend on how the parent started us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        setup_logging(settings.log_level)
        code = int(args.handler(args, settings) or 0)
    except SettingsError as exc:
        print(f"clfwatch: bad setting: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"clfwatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("clfwatch: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
