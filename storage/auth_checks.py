"""The newest key-enforcement check (``auth`` probe) of an openai-chat target, for its team pages.

An ``auth`` probe sends a request without the key and one with a wrong key; its outcome is ``ok``
when both were refused and ``auth_not_enforced`` when one was answered. It counts in no grade; the
team page shows the newest one, in red when the service is open to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.redaction import redact_text
from storage.models import Probe, Target

AUTH_KIND = "auth"
DETAIL_MAX_CHARS = 200


@dataclass(frozen=True)
class AuthCheck:
    """One key-enforcement check."""

    started_at: datetime  # aware, UTC
    outcome: str  # ok (refused), auth_not_enforced (answered), or a transport outcome
    status_code: int | None  # the status of the request that decided it; None: no answer
    detail: str | None  # the prober's words on which request was answered, redacted; None if none


def latest_auth_check(session: Session, target_id: int) -> AuthCheck | None:
    """The newest auth probe of one target, its detail redacted of the target's own key and any
    bearer credential; None when it was never checked. One index lookup."""
    row = session.execute(
        select(Probe.started_at, Probe.outcome, Probe.status_code, Probe.detail)
        .where(Probe.target_id == target_id, Probe.kind == AUTH_KIND)
        .order_by(Probe.started_at.desc())
        .limit(1)
    ).tuples().first()
    if row is None:
        return None
    started_at, outcome, status_code, detail = row
    token = session.scalar(select(Target.token).where(Target.id == target_id))
    shown = redact_text(detail, [token])[:DETAIL_MAX_CHARS] if detail else None
    return AuthCheck(started_at, outcome, status_code, shown)
