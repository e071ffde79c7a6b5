"""``clfwatch`` run inside the test process, for checks of what a command computes and prints.

A real ``python -m clfwatch.cli`` costs about 0.6 CPU-s, nearly all of it imports. A test that
reads the same data in several formats, or walks a command through variants of its input, checks
logic that is the same in this process: ``clfwatch_in_process`` runs ``cli.main`` here and
returns what a subprocess would (exit code, stdout, stderr). What only a real process proves
(the script starts, nothing but the command's own lines reaches stderr at exit, a secret is
never printed) each test module still proves with ``tests.clfwatch.test_cli.clfwatch``.

Kept as in a fresh process: only the ``CLFWATCH_*`` variables of ``env`` are the settings
(cached settings are dropped before and after), log records go to the captured stderr through
the handler ``setup_logging`` installs (as they would in a real process, instead of into
pytest's own handlers), and the database's pooled connections are closed afterwards, as they
are when a process exits.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout


@contextmanager
def _clfwatch_environ(env: dict[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("CLFWATCH_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("CLFWATCH_")})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("CLFWATCH_")]:
            del os.environ[key]
        os.environ.update(saved)


@contextmanager
def _root_logger_of_a_fresh_process() -> Iterator[None]:
    """No handlers on the root logger, so ``setup_logging`` adds its stderr handler (bound to
    the stderr in effect, the captured one); pytest's handlers and level come back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def clfwatch_in_process(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Like ``tests.clfwatch.test_cli.clfwatch(env, *args)``, without starting a process;
    ``stdin`` is what the command reads from standard input."""
    from clfwatch.cli import main
    from core.settings import get_settings
    from storage.engine import engine_for

    out, err = io.StringIO(), io.StringIO()
    real_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
    with _clfwatch_environ(env):
        get_settings.cache_clear()
        try:
            with _root_logger_of_a_fresh_process(), redirect_stdout(out), redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:  # argparse: usage errors and --help
                    code = exc.code if isinstance(exc.code, int) else 1
        finally:
            url = os.environ.get("CLFWATCH_DATABASE_URL")
            if url:
                engine_for(url).dispose()
            get_settings.cache_clear()
            sys.stdin = real_stdin
    return subprocess.CompletedProcess(["clfwatch", *args], code, out.getvalue(), err.getvalue())
