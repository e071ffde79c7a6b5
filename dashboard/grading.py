"""The evaluation set and the grading configuration, as the admin page reads and saves them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard.db import QUERY_TTL_S, clear_caches, session_for
from storage.evalset import EvalSetError, eval_count, parse_eval_csv, replace_eval_set
from storage.grading import get_grading_config, set_grading_config

log = logging.getLogger(__name__)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def eval_sample_count(url: str) -> int:
    with session_for(url, "count the evaluation samples") as session:
        return eval_count(session)


def load_eval_csv(url: str, content: bytes) -> int:
    """Replace the evaluation set from an uploaded CSV; EvalSetError (names the line) loads nothing."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EvalSetError("the file is not UTF-8 text") from None
    rows = parse_eval_csv(text)
    with session_for(url, "load the evaluation set") as session:
        count = replace_eval_set(session, rows)
    log.info("event=eval_set_loaded samples=%d", count)
    clear_caches()
    return count


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def grading_config(url: str) -> dict[str, Any]:
    with session_for(url, "read the grading configuration") as session:
        cfg = get_grading_config(session)
    return {"defense_at": cfg.defense_at, "baseline_auc": cfg.baseline_auc, "rules_toml": cfg.rules_toml}


def parse_defense_at(value: str) -> datetime | None:
    """ISO 8601 with a zone, or empty for "use the default"; ValueError with a short message."""
    value = value.strip()
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from None
    if at.tzinfo is None:
        raise ValueError("the time needs a zone, e.g. 2026-12-01T10:00:00+00:00")
    return at.astimezone(UTC)


def save_grading(url: str, *, defense_at: datetime | None, rules_toml: str | None) -> None:
    """Store the defense time and rules; the rules are validated first (RulesError names the key)."""
    from scoring.rules import parse_rules

    rules_toml = rules_toml if rules_toml and rules_toml.strip() else None
    if rules_toml is not None:
        parse_rules(rules_toml)
    with session_for(url, "save the grading configuration") as session:
        set_grading_config(session, defense_at=defense_at, rules_toml=rules_toml)
    log.info("event=grading_saved defense_at=%s rules=%s", defense_at, "custom" if rules_toml else "default")
    clear_caches()
