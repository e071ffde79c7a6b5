"""What the Register and My team pages call: the team API's own functions, not a second copy.

Every call opens a session, calls ``teamapi.service`` and returns what the service returns;
a refusal is a ``TeamError`` whose message the page shows as it is. The failed-code/key guard
and the board cache are one per dashboard process, as in the API. Nothing here caches a key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st

from core.settings import Settings
from dashboard.ui import plain  # noqa: F401 - the pages' one escaping rule, re-exported
from storage.engine import session_scope
from teamapi import service
from teamapi.service import BadKey, BoardCache, FailedAuthGuard, Registered, TeamError, WrongCode

log = logging.getLogger(__name__)



@st.cache_resource(show_spinner=False)
def _guard() -> FailedAuthGuard:
    return FailedAuthGuard()


@st.cache_resource(show_spinner=False)
def _boards(url: str) -> BoardCache:
    return BoardCache()


def _address() -> str:
    """The browser's address as Streamlit saw it; one bucket for local connections."""
    try:
        return str(st.context.ip_address or "local")
    except Exception:  # noqa: BLE001 - outside a script run (tests calling directly)
        return "local"


def registration_open(settings: Settings) -> bool:
    return settings.registration_code is not None


def register(settings: Settings, **fields: Any) -> Registered:
    """``POST /api/v1/teams`` from the Register page; TeamError with the API's message."""
    guard, address = _guard(), _address()
    guard.check(address)
    try:
        with session_scope(settings.database_url) as session:
            created = service.register_team(session, settings, wording=service.PAGE_WORDING, **fields)
    except WrongCode:
        guard.failed(address)
        raise
    except TeamError:
        raise
    except Exception as exc:
        log.warning("event=page_register_failed error=%s", type(exc).__name__)
        raise TeamError("registration failed on our side; try again in a moment") from None
    _boards(settings.database_url).clear()
    return created


def _team_id(settings: Settings, key: str) -> int:
    guard, address = _guard(), _address()
    guard.check(address)
    with session_scope(settings.database_url) as session:
        try:
            return service.authenticate(session, key.strip())
        except BadKey:
            guard.failed(address)
            raise


def status(settings: Settings, key: str) -> dict[str, Any]:
    """``GET /api/v1/teams/me`` for the key the visitor signed in with."""
    team = _team_id(settings, key)
    with session_scope(settings.database_url) as session:
        board = _boards(settings.database_url).get(session, settings)
        return service.team_status(session, settings, team, board=board)


def change(settings: Settings, key: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``PATCH /api/v1/teams/me``: audited as the team."""
    team = _team_id(settings, key)
    with session_scope(settings.database_url) as session:
        target = service.update_team(session, settings, team, changes)
    _boards(settings.database_url).clear()
    return target


def new_key(settings: Settings, key: str) -> str:
    """``POST /api/v1/teams/me/key``: the old key stops working at once."""
    team = _team_id(settings, key)
    with session_scope(settings.database_url) as session:
        return service.rotate_key(session, team)


def notifications(settings: Settings, key: str) -> list[dict[str, Any]]:
    """``GET /api/v1/teams/me/notifications``: the team's own channels, masked."""
    team = _team_id(settings, key)
    with session_scope(settings.database_url) as session:
        return service.list_notifications(session, team)


def add_notification(settings: Settings, key: str, url: str) -> dict[str, Any]:
    """``POST /api/v1/teams/me/notifications``: checked by Apprise and the network guard."""
    team = _team_id(settings, key)
    with session_scope(settings.database_url) as session:
        return service.add_notification(session, settings, team, url)


def remove_notification(settings: Settings, key: str, channel_id: int) -> None:
    """``DELETE /api/v1/teams/me/notifications/ID``: only the team's own."""
    team = _team_id(settings, key)
    with session_scope(settings.database_url) as session:
        service.remove_notification(session, team, channel_id)
