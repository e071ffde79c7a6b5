"""The one base of every error clfwatch raises on purpose.

An expected failure (a bad setting, rule file, template, key, ...) derives from ``ClfwatchError``,
so an entry point can tell it from a bug with one ``except``: the CLI prints ``str()`` of it as
one line and exits with ``exit_code``; anything else is a bug and keeps its traceback. Classes
that callers already catch as ``ValueError`` or ``LookupError`` keep that as a second base.
"""

from __future__ import annotations

EXIT_ERROR = 1  # what the CLI exits with for an expected failure unless the error says otherwise


class ClfwatchError(Exception):
    """An expected failure; ``str()`` is one line for the user: the cause and the fix."""

    exit_code: int = EXIT_ERROR
