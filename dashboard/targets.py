"""Targets as the admin and team pages list and change them; a token never leaves here."""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from core.contract import TargetKind
from dashboard.db import QUERY_TTL_S, clear_caches, session_for
from probes.llm_discovery import FIX_PAGE
from probes.llm_registration import check_key_after_registration, resolve_model
from storage.targets import (
    add_target,
    get_target,
    list_targets,
    set_active,
    target_changes,
    update_target,
    validate_name,
    validate_url,
)

log = logging.getLogger(__name__)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def target_rows(url: str) -> list[dict[str, Any]]:
    """Every target without its token: only whether one is set."""
    with session_for(url, "list the targets") as session:
        views = list_targets(session)
    return [
        {
            "name": v.name, "kind": v.kind, "model": v.model, "base_url": v.base_url,
            "predict_path": v.predict_path,
            "health_path": v.health_path, "request_template": v.request_template,
            "probability_pointer": v.probability_pointer,
            "token": "set" if v.has_token else "none",
            "registered_at": v.registered_at, "active": v.active,
        }
        for v in views
    ]


def target_names(url: str) -> list[str]:
    return [r["name"] for r in target_rows(url)]


def register_target(url: str, **fields: Any) -> tuple[str, list[str]]:
    """Register a target; TargetError (safe to show) when a field is invalid or the name taken.

    Returns the stored name and the likely URL mistakes, so the page can warn right away. An
    openai-chat target is registered as the CLI does it (``probes.llm_registration``): key
    required, model read from ``/v1/models`` when blank, key enforcement checked after; its
    warnings join the URL's. DiscoveryError/TokenRequired (ValueError, safe to show) refuse it.
    """
    if fields.get("kind") != TargetKind.OPENAI_CHAT:
        with session_for(url, "register the target") as session:
            view = add_target(session, **fields)
        log.info("event=target_registered name=%s", view.name)
        clear_caches()
        return view.name, list(view.warnings)
    validate_name(fields["name"])
    fields["base_url"] = validate_url(fields["base_url"])
    chosen = resolve_model(base_url=fields["base_url"], token=fields.get("token"),
                           model=fields.pop("model", None), fix=FIX_PAGE,
                           token_flag="the Bearer token field")
    with session_for(url, "register the target") as session:
        view = add_target(session, model=chosen.model, **fields)
    log.info("event=target_registered name=%s kind=%s", view.name, view.kind)
    note = f"{chosen.note}; choose another under Edit a target" if chosen.note else None
    warnings = list(view.warnings) + ([note] if note else [])
    with session_for(url, "check the target's key") as session:
        check = check_key_after_registration(session, view.id)
    if check.warning:
        warnings.append(check.warning)
    clear_caches()
    return view.name, warnings


def edit_target(url: str, name: str, /, **changes: Any) -> tuple[str, list[str]]:
    """Change fields of a target as the admin page (audited); token None or "" keeps the stored one.

    A new ``name`` renames in place: id, registration time and probes stay. Returns the name
    after saving and the likely URL mistakes.
    """
    if not changes.get("token"):
        changes.pop("token", None)
    with session_for(url, "save the target") as session:
        view = update_target(session, name, actor="admin", **changes)
    log.info("event=target_updated name=%s fields=%s", view.name, ",".join(sorted(changes)))
    clear_caches()
    return view.name, list(view.warnings)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def target_change_rows(url: str, name: str) -> list[dict[str, Any]]:
    """A target's audited changes, newest first: when, who, which fields (never a value)."""
    with session_for(url, "load the change history") as session:
        changes = target_changes(session, get_target(session, name).id)
    return [{"at": c.at, "who": c.actor, "fields": ", ".join(c.fields)} for c in changes]


def set_target_active(url: str, name: str, active: bool) -> None:
    with session_for(url, "change the target") as session:
        set_active(session, name, active)
    log.info("event=target_active name=%s active=%s", name, active)
    clear_caches()
