"""How the dashboard reaches the database: sessions, the safe error, and forgetting cached reads.

Reads elsewhere in ``dashboard/`` are cached for a few seconds with ``st.cache_data`` (keyed
by the database URL, so two databases never share an answer) and return plain, picklable
values: a page never holds a session, never sees a token or a hidden label. Writes (admin
actions) call :func:`clear_caches` so the next render shows them. Failures raise
``DashboardError`` with a short message a page may show; details go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ClfwatchError
from core.settings import Settings, get_settings
from dashboard.cache import forget_all
from storage.engine import engine_for
from storage.evalset import EvalSetError
from storage.targets import TargetError

log = logging.getLogger(__name__)

QUERY_TTL_S = 15


class DashboardError(ClfwatchError):
    """A read or an action failed; the message is short and safe to show on a page."""


def current_settings() -> Settings:
    """The process settings (``CLFWATCH_*``); SettingsError names a bad variable."""
    return get_settings()


@st.cache_resource(show_spinner=False)
def sessions_for(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def session_for(url: str, what: str, sessions: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """A session that commits on success; any database error becomes a short DashboardError."""
    session = (sessions or sessions_for(url))()
    try:
        yield session
        session.commit()
    except (DashboardError, TargetError, EvalSetError):
        session.rollback()
        raise
    except Exception as exc:
        session.rollback()
        log.warning("event=dashboard_query_failed what=%s error=%s", what, type(exc).__name__)
        raise DashboardError(f"Could not {what} right now; try again in a moment.") from None
    finally:
        session.close()


def clear_caches() -> None:
    """After a write, so every page shows the change at once."""
    st.cache_data.clear()
    forget_all()
