"""Registering alert channels (Apprise URLs): checked by Apprise, stored, listed only masked.

These are the functions the CLI and the team API call. ``target_id`` None means the
operator's every-target channel; a team passes its own target's id and can neither see nor
remove another target's channel.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from alerts.messages import channel_test_message
from alerts.sender import check_url, send_blocking
from core.errors import ClfwatchError
from storage import alerts as store
from storage.alerts import ChannelError, ChannelView
from storage.models import ALERT_URL_MAX_CHARS, MASKED_URL_MAX_CHARS

MASK = "****"


class ChannelURLError(ClfwatchError, ValueError):
    """An Apprise URL that Apprise cannot use; the message carries Apprise's reason."""


def mask_url(url: str, plugin: object | None = None) -> str:
    """The URL with its secrets hidden: Apprise's own privacy form, else only scheme and host."""
    privacy = getattr(plugin, "url", None)
    masked: str | None = None
    if callable(privacy):
        try:
            masked = str(privacy(privacy=True))
        except Exception:  # noqa: BLE001 - a plugin's own rendering failing is no reason to leak
            masked = None
    # Apprise hides passwords and known tokens, but not a path or a query (headers, ?token=):
    # keep its scheme and host part only.
    parts = urlsplit(masked or url)
    netloc = parts.netloc if masked else (parts.hostname or MASK)
    rest = f"/{MASK}" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{netloc}{rest}"[:MASKED_URL_MAX_CHARS]


def validate_url(url: str) -> tuple[str, str]:
    """The URL (stripped) and its masked form; ChannelURLError with Apprise's reason otherwise."""
    url = url.strip()
    if not url:
        raise ChannelURLError("empty Apprise URL; give one such as json://host/path or mailto://...")
    if len(url) > ALERT_URL_MAX_CHARS:
        raise ChannelURLError(f"Apprise URL longer than {ALERT_URL_MAX_CHARS} characters")
    plugin, reason = check_url(url)
    if plugin is None:
        raise ChannelURLError(f"Apprise cannot use this URL: {reason}")
    return url, mask_url(url, plugin)


def add_channel(session: Session, target_id: int | None, url: str) -> ChannelView:
    """Check ``url`` with Apprise and store it for a target (None: every target).

    Raises ChannelURLError (with Apprise's reason) for a URL Apprise cannot parse. Blocking
    (Apprise loads its plugins once, about a second): call it from a thread in async code.
    """
    url, masked = validate_url(url)
    return store.insert_channel(session, target_id=target_id, url=url, masked=masked)


def list_channels(session: Session, target_id: int | None) -> list[ChannelView]:
    """A target's own channels (None: the every-target ones), masked; [] when none."""
    return store.list_channels(session, target_id)


def remove_channel(session: Session, channel_id: int, *, target_id: int | None = None) -> None:
    """Delete a channel; with ``target_id`` only that target's own (ChannelError otherwise)."""
    store.delete_channel(session, channel_id, target_id=target_id)


def send_test_message(session: Session, channel_id: int, *, target_id: int | None = None) -> str | None:
    """Send a test message now; None on success, else the provider's reason. Blocking."""
    channel = store.channel_url(session, channel_id, target_id=target_id)
    title, body = channel_test_message(channel.id)
    return send_blocking(channel.url, title, body)


__all__ = [
    "ChannelError",
    "ChannelURLError",
    "ChannelView",
    "add_channel",
    "list_channels",
    "mask_url",
    "remove_channel",
    "send_test_message",
    "validate_url",
]
