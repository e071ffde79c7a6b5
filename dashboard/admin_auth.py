"""The admin gate: whether admin is on, and the password check."""

from __future__ import annotations

import hmac
import logging

from core.settings import Settings

log = logging.getLogger(__name__)


def admin_enabled(settings: Settings) -> bool:
    return settings.admin_password is not None


def check_admin_password(settings: Settings, entered: str) -> bool:
    """Compare in constant time; always False when admin is off."""
    if settings.admin_password is None:
        return False
    expected = settings.admin_password.get_secret_value().encode()
    ok = hmac.compare_digest(entered.encode(), expected)
    if not ok:
        log.warning("event=admin_login_refused")
    return ok
