"""``make up``: bring the system up on the embedded default (grows with each component)."""

from __future__ import annotations

import sys

from clfwatch.settings import SettingsError, get_settings
from storage.engine import upgrade_database, wait_for_database


def main() -> int:
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"clfwatch up: bad setting: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    wait_for_database(settings.database_url)
    upgrade_database(settings.database_url)
    print(f"database ready: {settings.database_url}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
