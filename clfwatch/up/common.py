"""What every step of ``make up`` shares: the operator's output, the errors, the stop flag."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from core.errors import ClfwatchError

VAR_DIR = Path("var")  # relative to where make up runs: the repository
LOG_DIR = VAR_DIR / "logs"


def say(message: str) -> None:
    """The operator's view of what ``make up`` is doing: one line per step, on stdout."""
    print(f"clfwatch up: {message}", flush=True)  # noqa: T201


class UpError(ClfwatchError):
    """A step could not be done; the message says which and what to do."""


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived while preparing."""


@dataclass
class StopFlag:
    """Set from the signal handlers; every wait loop looks at it."""

    signal_name: str | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.signal_name = signal.Signals(signum).name

    @property
    def is_set(self) -> bool:
        return self.signal_name is not None


def url_host(host: str) -> str:
    """The host to put in a URL that reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def clfwatch_argv(*args: str) -> list[str]:
    """The ``clfwatch`` CLI of this interpreter, independent of PATH."""
    return [sys.executable, "-m", "clfwatch.cli", *args]
