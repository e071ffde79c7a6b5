"""The team API in the test process: ``create_app`` on a real uvicorn in a thread, its log captured.

A ``clfwatch api`` subprocess paid about 1.3 CPU-s of imports per test. An app built here is as
independent of the one before it: ``create_app`` makes its own failed-auth limiter (slowapi, a
fresh ``memory://`` storage), board cache and metrics registry, and its settings are given
explicitly, never read from this machine's ``CLFWATCH_*`` variables or ``get_settings``' cache.
What the subprocess's log file gave the tests (no traceback, no secret in it) the capture gives:
the app's loggers and uvicorn's at the levels ``clfwatch api`` sets, tracebacks formatted in.
One test in test_api.py still starts the real command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from core.logs import LOG_FORMAT, QUIET_LIBRARY_LOGGERS
from core.settings import Settings
from teamapi.app import create_app
from tests.servers import uvicorn_thread

UVICORN_ERROR_LOGGER = "uvicorn.error"
# One line per request, from teamapi.app's middleware: a captured log without it captured nothing.
REQUEST_LINE = "event=request "


class _GivenSettings(Settings):
    """Settings from the values given only: the subprocess's environment dropped ``CLFWATCH_*``."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def api_settings(**values: str) -> Settings:
    """Settings as ``CLFWATCH_<NAME>=value`` variables (strings) give them, and nothing else."""
    return _GivenSettings(**values)


class LogCapture(logging.Handler):
    """Every record that reaches it, formatted as ``clfwatch api`` logs it (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self._records: list[logging.LogRecord] = []  # kept alive, so their ids stay unique
        self._seen: set[int] = set()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if id(record) in self._seen:  # uvicorn.error's records may reach root as well
            return
        self._seen.add(id(record))
        self._records.append(record)
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def captured_log(level: str = "INFO") -> Iterator[LogCapture]:
    """Capture root (where teamapi's loggers propagate) and uvicorn's error logger at ``level``.

    uvicorn's error logger is held directly: once any uvicorn in this process has applied
    uvicorn's default log config, ``uvicorn`` stops propagating to root. Levels are set as
    ``core.logs.setup_logging`` sets them for the command, and restored afterwards.
    """
    capture = LogCapture()
    root = logging.getLogger()
    uvicorn_error = logging.getLogger(UVICORN_ERROR_LOGGER)
    quiet = [logging.getLogger(name) for name in QUIET_LIBRARY_LOGGERS]
    saved = [(logger, logger.level) for logger in (root, *quiet)]
    root.setLevel(level)
    for logger in quiet:
        logger.setLevel(max(logging.WARNING, root.level))
    root.addHandler(capture)
    uvicorn_error.addHandler(capture)
    try:
        yield capture
    finally:
        # Another uvicorn's logging.config.dictConfig in this block would have dropped the handler.
        still_held = capture in uvicorn_error.handlers
        uvicorn_error.removeHandler(capture)
        root.removeHandler(capture)
        for logger, saved_level in saved:
            logger.setLevel(saved_level)
    assert still_held, "uvicorn's error logger was reconfigured while captured: start other servers first"


@contextmanager
def running_api(settings: Settings, **uvicorn_config: Any) -> Iterator[tuple[str, LogCapture]]:
    """``create_app(settings)`` served as ``clfwatch api`` serves it; yields its base URL and log."""
    app = create_app(settings)
    with captured_log(settings.log_level) as log, uvicorn_thread(
        app, log_config=None, access_log=False, server_header=False, **uvicorn_config
    ) as url:
        yield url, log


@contextmanager
def serve_api(settings: Settings, *, hidden: Sequence[str] = ()) -> Iterator[str]:
    """``running_api``, whose log, once the server has stopped, passes ``check_log``."""
    with running_api(settings) as (url, log):
        yield url
    check_log(log.text, hidden=hidden)


def check_log(text: str, *, hidden: Sequence[str] = ()) -> None:
    """The checks every team API log passes: it saw requests, no traceback, no secret."""
    assert REQUEST_LINE in text, f"no request line captured:\n{text[-3000:]}"
    assert "Traceback" not in text, text[-3000:]
    for secret in hidden:
        assert secret not in text
