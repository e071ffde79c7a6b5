"""Container healthcheck: exit 0 when URL answers 200 within the timeout, 1 otherwise.

The slim Python image has no curl or wget, and the same image serves several roles on
different ports, so each compose service passes its own URL:

    python /app/docker/healthcheck.py http://127.0.0.1:8080/health
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def healthy(url: str, timeout_s: float = TIMEOUT_S) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - fixed loopback URL
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: healthcheck.py URL\n")
        return 2
    return 0 if healthy(argv[1]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
