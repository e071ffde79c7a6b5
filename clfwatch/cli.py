"""The ``clfwatch`` console script: one parser, a module per command group.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)``; a handler returns the exit
code. Expected failures raise ``CommandError`` (or any other ``ClfwatchError``) and print one
line; nothing prints a traceback at a user who only typed a bad argument.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
from collections.abc import Sequence

from clfwatch.commands import CommandError
from core.errors import ClfwatchError
from core.logs import setup_logging
from core.settings import Settings, SettingsError, get_settings

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141, what a shell reports for a command cut off by a pipe

# Command group -> the module that registers it. Only the group named on the command line is
# imported (each pulls in its own part of clfwatch: scoring, the prober, stress...), so a
# command starts in about half the time; --help and usage errors import them all.
COMMAND_MODULES = {
    "db": "clfwatch.commands.db",
    "targets": "clfwatch.commands.targets",
    "eval": "clfwatch.commands.evalset",
    "service": "clfwatch.commands.service",
    "score": "clfwatch.commands.score",
    "stress": "clfwatch.commands.stress",
    "drift": "clfwatch.commands.drift",
    "probe": "clfwatch.commands.probe",
    "alerts": "clfwatch.commands.alerts",
    "dashboard": "clfwatch.commands.dashboard",
    "api": "clfwatch.commands.api",
}

# Command groups that need no database, or (db) manage the schema themselves.
NO_DATABASE_GROUPS = frozenset({"db", "service"})


def ensure_database_schema(args: argparse.Namespace, settings: Settings) -> None:
    """Before any command that uses the database: SQLite is migrated on first use (one line on
    stderr); any other database not at the newest schema stops the command with one line
    naming ``clfwatch db upgrade``. An unreachable database is left to the command.
    """
    if args.group in NO_DATABASE_GROUPS:
        return
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from storage.engine import engine_for, schema_revisions, upgrade_database

    url = settings.database_url
    parsed = make_url(url)
    sqlite_file = None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        sqlite_file = Path(str(parsed.database))
    created = sqlite_file is not None and not sqlite_file.exists()
    try:
        current, head = schema_revisions(url)
    except OperationalError:
        if created and sqlite_file is not None and sqlite_file.exists():
            engine_for(url).dispose()
            sqlite_file.unlink()
        return
    if current == head:
        return
    if sqlite_file is None:
        state = "was never migrated" if current is None else f"is at schema {current}, not {head}"
        raise CommandError(f"the database {parsed.render_as_string(hide_password=True)} {state}; "
                           "run: clfwatch db upgrade", exit_code=2)
    try:
        upgrade_database(url)
    except Exception:
        if created and sqlite_file.exists():
            engine_for(url).dispose()
            sqlite_file.unlink()
        raise CommandError(f"could not migrate the SQLite database {sqlite_file}; "
                           "run: clfwatch db upgrade") from None
    print(f"clfwatch: migrated the SQLite database {sqlite_file} to the newest schema ({head})",
          file=sys.stderr)


def build_parser(group: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``group`` (a key of ``COMMAND_MODULES``) only that group's."""
    parser = argparse.ArgumentParser(
        prog="clfwatch", description="Watch, stress and grade deployed text classifiers."
    )
    subparsers = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for name, module in COMMAND_MODULES.items():
        if group is None or name == group:
            importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C means "stop and keep what finished" for every long command. A shell starts
    # background jobs with SIGINT ignored, and Python then never installs its handler, so
    # install it here: the behaviour must not depend on how the parent started us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words and words[0] in COMMAND_MODULES else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help or a usage error: argparse printed, then exits
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_broken_pipe()
        raise
    try:
        settings = get_settings()
        setup_logging(settings.log_level)
        ensure_database_schema(args, settings)
        code = int(args.handler(args, settings) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at exit
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except SettingsError as exc:
        print(f"clfwatch: bad setting: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except ClfwatchError as exc:  # CommandError, and any expected failure a command let through
        print(f"clfwatch: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("clfwatch: interrupted", file=sys.stderr)
        return 130
    return code


def one_line(exc: BaseException) -> str:
    """``str(exc)`` on one line: a message that spans lines would read as several errors."""
    return re.sub(r"\s*\n\s*", " ", str(exc).strip()) or type(exc).__name__


def _quiet_broken_pipe() -> int:
    """The reader of our stdout went away (``clfwatch score | head -3``): end quietly, as ``cat`` does.

    Python's recipe: point stdout at devnull so the interpreter's final flush does not raise
    again (it would print "Exception ignored ... BrokenPipeError"), and exit 128 + SIGPIPE.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor: nothing left to silence
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
