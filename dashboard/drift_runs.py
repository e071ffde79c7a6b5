"""Drift reports run on demand from the admin page."""

from __future__ import annotations

import logging

from dashboard.db import DashboardError, clear_caches, current_settings

log = logging.getLogger(__name__)


def recompute_drift(url: str, target: str | None) -> int:
    """Run the drift reports now (seconds per target); returns how many summaries were made."""
    try:
        from drift.reports import run_drift

        summaries = run_drift(url, target_name=target, settings=current_settings())
    except DashboardError:
        raise
    except Exception as exc:
        log.warning("event=drift_failed target=%s error=%s", target, type(exc).__name__)
        raise DashboardError("Could not compute drift right now.") from None
    clear_caches()
    return len(summaries)
