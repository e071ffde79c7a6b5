"""Command groups of the ``clfwatch`` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from core.errors import ClfwatchError


class CommandError(ClfwatchError):
    """An expected failure: printed as one line, exit code non-zero."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def port_number(text: str) -> int:
    """An argparse type: a bad ``--port`` is a usage error before anything (the database) is touched."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {port}")
    return port


TOKEN_HELP_STDIN = "; - reads it from standard input, out of the process list (ps) that every user sees"


def token_argument(text: str) -> str:
    """An argparse type for ``--token``: ``-`` reads the key from stdin's first line.

    A key on the command line shows in ``ps`` to every user of the machine while the command
    runs; ``printf '%s' "$KEY" | clfwatch ... --token -`` keeps it out.
    """
    if text != "-":
        return text
    key = sys.stdin.readline().strip()
    if not key:
        raise argparse.ArgumentTypeError("'-' reads the key from standard input, which held none")
    return key


def print_rows(rows: Sequence[Mapping[str, object]], *, as_json: bool, empty: str) -> None:
    """A listing as JSON, or as aligned text columns; ``empty`` says how to add the first one."""
    import json

    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(empty)
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))
