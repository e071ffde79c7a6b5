"""The newest key-enforcement check (``auth`` probes) of an openai-chat target, for its team pages.

A check sends a request without the key and one with a wrong key, one ``auth`` row each, a moment
apart; a row's outcome is ``ok`` when its request was refused (401/403), ``auth_not_enforced`` when
it was answered 200, ``http_error`` for another status, or a transport outcome. It counts in no
grade; the team page shows the newest check, in red when the service is open to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.redaction import redact_text
from storage.models import Probe, Target

AUTH_KIND = "auth"
DETAIL_MAX_CHARS = 200
# Rows of one check start within this of each other (the two requests go out together).
CHECK_SPREAD = timedelta(seconds=60)
# A check writes exactly two rows (no key, wrong key): the newest two are the newest check's, even
# when checks come seconds apart (registration, then the prober's first round).
ROWS_PER_CHECK = 2


@dataclass(frozen=True)
class AuthCheck:
    """One request of a key-enforcement check."""

    started_at: datetime  # aware, UTC
    outcome: str  # ok (refused), auth_not_enforced (answered 200), http_error, or a transport outcome
    status_code: int | None  # None: no answer
    detail: str | None  # the prober's words (which request, what it got), redacted; None if none


def latest_auth_check(session: Session, target_id: int) -> list[AuthCheck]:
    """The rows of the newest key-enforcement check, newest first (those started within
    CHECK_SPREAD of the newest auth row); empty when never checked. Details are redacted of the
    target's own key and any bearer credential. One index-ordered scan."""
    rows = session.execute(
        select(Probe.started_at, Probe.outcome, Probe.status_code, Probe.detail)
        .where(Probe.target_id == target_id, Probe.kind == AUTH_KIND)
        .order_by(Probe.started_at.desc())
        .limit(ROWS_PER_CHECK)
    ).tuples().all()
    if not rows:
        return []
    token = session.scalar(select(Target.token).where(Target.id == target_id))
    newest = rows[0][0]
    return [
        AuthCheck(started_at, outcome, status_code,
                  redact_text(detail, [token])[:DETAIL_MAX_CHARS] if detail else None)
        for started_at, outcome, status_code, detail in rows
        if newest - started_at <= CHECK_SPREAD
    ]
