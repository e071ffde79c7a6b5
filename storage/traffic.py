"""The reference service's traffic sample: a ring of the last N texts it was asked to classify.

Only texts (and when they arrived) are kept, never a request id, a sample id or a header. The
service writes in batches from a background thread (service.traffic); ``clfwatch drift run
--traffic`` reads the ring back to compare it with the training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from storage.models import TRAFFIC_TEXT_MAX_CHARS, TrafficText


class TrafficSample(NamedTuple):
    """The ring's texts, oldest first, and the time span they arrived in (None when empty)."""

    texts: list[str]
    first_at: datetime | None
    last_at: datetime | None


def add_traffic_texts(session: Session, rows: Sequence[tuple[datetime, str]], *, keep: int) -> int:
    """Append ``(received_at, text)`` rows (texts cut to TRAFFIC_TEXT_MAX_CHARS), then prune to ``keep``.

    Returns how many rows the prune deleted. Nothing is written when ``rows`` is empty.
    """
    if not rows:
        return 0
    session.execute(
        insert(TrafficText),
        [{"received_at": at, "text": text[:TRAFFIC_TEXT_MAX_CHARS]} for at, text in rows],
    )
    return prune_traffic_texts(session, keep=keep)


def prune_traffic_texts(session: Session, *, keep: int) -> int:
    """Delete all but the newest ``keep`` texts (by insertion order); returns how many went."""
    newest_dropped = (
        select(TrafficText.id).order_by(TrafficText.id.desc()).offset(keep).limit(1).scalar_subquery()
    )
    result = session.execute(delete(TrafficText).where(TrafficText.id <= newest_dropped))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_traffic_texts(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(TrafficText)) or 0)


def traffic_sample(session: Session) -> TrafficSample:
    """Every text in the ring, oldest first; empty texts and None times when the ring is empty."""
    rows = session.execute(
        select(TrafficText.received_at, TrafficText.text).order_by(TrafficText.id)
    ).tuples().all()
    if not rows:
        return TrafficSample([], None, None)
    return TrafficSample([text for _, text in rows], min(at for at, _ in rows), max(at for at, _ in rows))
