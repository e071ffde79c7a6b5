"""One logging setup per entry point: ``key=value`` lines on stderr."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
# httpx logs every request at INFO ("HTTP Request: POST <url> ..."): one line per stress case
# would bury what a team needs to read; their failures reach our own log lines anyway. Alembic
# logs a line per plugin it loads and per migration step: `clfwatch db upgrade` prints its own.
QUIET_LIBRARY_LOGGERS = ("httpx", "httpcore", "alembic")


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once; later calls only change the level."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
