"""Incidents, alert channels and alert deliveries. Channel URLs leave only through ``channel_urls``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import ClfwatchError
from storage.models import (
    ALERT_ERROR_MAX_CHARS,
    MASKED_URL_MAX_CHARS,
    REASON_MAX_CHARS,
    AlertChannel,
    AlertDelivery,
    Incident,
    Target,
)

DELIVERY_SENT = "sent"
DELIVERY_FAILED = "failed"


class ChannelError(ClfwatchError, ValueError):
    """A channel does not exist, or belongs to another target."""


@dataclass(frozen=True)
class ChannelView:
    """A channel as every listing shows it: masked, never the URL itself."""

    id: int
    target_id: int | None  # None: every target
    target_name: str | None
    masked: str
    created_at: datetime


@dataclass(frozen=True)
class ChannelURL:
    """What the sender needs: the full URL. Never print it."""

    id: int
    target_id: int | None
    url: str

    def __repr__(self) -> str:  # keeps provider secrets out of logs and tracebacks
        return f"ChannelURL(id={self.id}, target_id={self.target_id})"


@dataclass(frozen=True)
class OpenIncident:
    """An incident still open: what the tracker needs to carry it on after a restart."""

    id: int
    target_id: int
    target_name: str
    kind: str
    started_at: datetime
    outcome: str
    reason: str
    failed_probes: int


@dataclass(frozen=True)
class DeliveryFailure:
    """A message that did not get through after its retries."""

    id: int
    channel_id: int | None
    channel_masked: str | None
    target_name: str | None
    event: str
    attempts: int
    error: str | None
    created_at: datetime
    finished_at: datetime


# --- channels -------------------------------------------------------------------------------


def insert_channel(session: Session, *, target_id: int | None, url: str, masked: str) -> ChannelView:
    """Store a channel already checked by ``alerts.channels``; target_id None means every target."""
    channel = AlertChannel(target_id=target_id, url=url, masked=masked[:MASKED_URL_MAX_CHARS])
    session.add(channel)
    session.flush()
    return _channel_view(session, channel)


def _channel_view(session: Session, channel: AlertChannel) -> ChannelView:
    name = None
    if channel.target_id is not None:
        name = session.scalar(select(Target.name).where(Target.id == channel.target_id))
    return ChannelView(channel.id, channel.target_id, name, channel.masked, channel.created_at)


def list_channels(session: Session, target_id: int | None) -> list[ChannelView]:
    """A target's own channels (None: the every-target ones), masked, oldest first; [] when none."""
    query = select(AlertChannel, Target.name).outerjoin(Target, Target.id == AlertChannel.target_id)
    if target_id is None:
        query = query.where(AlertChannel.target_id.is_(None))
    else:
        query = query.where(AlertChannel.target_id == target_id)
    return [
        ChannelView(c.id, c.target_id, name, c.masked, c.created_at)
        for c, name in session.execute(query.order_by(AlertChannel.id))
    ]


def all_channels(session: Session) -> list[ChannelView]:
    """Every channel, masked, oldest first; [] when none."""
    query = (
        select(AlertChannel, Target.name)
        .outerjoin(Target, Target.id == AlertChannel.target_id)
        .order_by(AlertChannel.id)
    )
    rows = session.execute(query)
    return [ChannelView(c.id, c.target_id, name, c.masked, c.created_at) for c, name in rows]


def _owned_channel(session: Session, channel_id: int, target_id: int | None) -> AlertChannel:
    channel = session.get(AlertChannel, channel_id)
    # Another target's channel reads exactly like a missing one: nothing about it leaks.
    if channel is None or (target_id is not None and channel.target_id != target_id):
        raise ChannelError(f"no alert channel with id {channel_id}; list them with: clfwatch alerts list")
    return channel


def delete_channel(session: Session, channel_id: int, *, target_id: int | None = None) -> None:
    """Delete a channel; with ``target_id``, only if it is that target's own (ChannelError otherwise)."""
    session.delete(_owned_channel(session, channel_id, target_id))
    session.flush()


def channel_url(session: Session, channel_id: int, *, target_id: int | None = None) -> ChannelURL:
    """One channel with its full URL, for a test message; ChannelError as ``delete_channel``."""
    c = _owned_channel(session, channel_id, target_id)
    return ChannelURL(c.id, c.target_id, c.url)


def channel_urls(session: Session, target_id: int) -> list[ChannelURL]:
    """Where a target's messages go: its own channels and the every-target ones; [] when none."""
    query = (
        select(AlertChannel)
        .where((AlertChannel.target_id == target_id) | AlertChannel.target_id.is_(None))
        .order_by(AlertChannel.id)
    )
    return [ChannelURL(c.id, c.target_id, c.url) for c in session.scalars(query)]


# --- incidents ------------------------------------------------------------------------------


def open_incident(
    session: Session, *, target_id: int, kind: str, started_at: datetime, outcome: str, reason: str,
    failed_probes: int,
) -> int:
    """Store a newly opened incident; returns its id."""
    incident = Incident(
        target_id=target_id, kind=kind, started_at=started_at, outcome=outcome,
        reason=reason[:REASON_MAX_CHARS], failed_probes=failed_probes,
    )
    session.add(incident)
    session.flush()
    return incident.id


def resolve_incident(
    session: Session, *, target_id: int, kind: str, resolved_at: datetime, failed_probes: int
) -> int | None:
    """Close the open incident of a target and kind; its id, or None when none was open."""
    incident = session.scalar(
        select(Incident)
        .where(Incident.target_id == target_id, Incident.kind == kind, Incident.resolved_at.is_(None))
        .order_by(Incident.started_at.desc())
    )
    if incident is None:
        return None
    incident.resolved_at = resolved_at
    incident.failed_probes = max(incident.failed_probes, failed_probes)
    session.flush()
    return incident.id


def mark_notified(session: Session, incident_ids: list[int], at: datetime) -> None:
    """Note when the last message about these incidents went out."""
    if incident_ids:
        session.execute(update(Incident).where(Incident.id.in_(incident_ids)).values(notified_at=at))


def open_incidents(session: Session, *, target_ids: list[int] | None = None) -> list[OpenIncident]:
    """Incidents not yet resolved, oldest first; [] when every target is fine."""
    query = (
        select(Incident, Target.name)
        .join(Target, Target.id == Incident.target_id)
        .where(Incident.resolved_at.is_(None))
        .order_by(Incident.started_at, Incident.id)
    )
    if target_ids is not None:
        query = query.where(Incident.target_id.in_(target_ids))
    return [
        OpenIncident(i.id, i.target_id, name, i.kind, i.started_at, i.outcome, i.reason, i.failed_probes)
        for i, name in session.execute(query)
    ]


def incidents_of(session: Session, target_id: int, *, limit: int = 20) -> list[Incident]:
    """A target's newest incidents, open or resolved, newest first; [] when none."""
    query = (
        select(Incident).where(Incident.target_id == target_id)
        .order_by(Incident.started_at.desc(), Incident.id.desc()).limit(limit)
    )
    return list(session.scalars(query))


# --- deliveries -----------------------------------------------------------------------------


def record_delivery(
    session: Session, *, channel_id: int | None, target_id: int | None, incident_id: int | None, event: str,
    status: str, attempts: int, error: str | None, created_at: datetime, finished_at: datetime,
) -> None:
    """Store how one message to one channel ended."""
    session.add(
        AlertDelivery(
            channel_id=channel_id, target_id=target_id, incident_id=incident_id, event=event, status=status,
            attempts=attempts, error=error[:ALERT_ERROR_MAX_CHARS] if error else None,
            created_at=created_at, finished_at=finished_at,
        )
    )
    session.flush()


def delivery_failures(session: Session, *, limit: int = 50) -> list[DeliveryFailure]:
    """The newest failed deliveries, newest first; [] when every message got through."""
    query = (
        select(AlertDelivery, AlertChannel.masked, Target.name)
        .outerjoin(AlertChannel, AlertChannel.id == AlertDelivery.channel_id)
        .outerjoin(Target, Target.id == AlertDelivery.target_id)
        .where(AlertDelivery.status == DELIVERY_FAILED)
        .order_by(AlertDelivery.finished_at.desc(), AlertDelivery.id.desc())
        .limit(limit)
    )
    return [
        DeliveryFailure(
            d.id, d.channel_id, masked, name, d.event, d.attempts, d.error, d.created_at, d.finished_at
        )
        for d, masked, name in session.execute(query)
    ]


def deliveries(session: Session, *, target_id: int | None = None) -> list[AlertDelivery]:
    """Every delivery (of a target), oldest first; [] when none. For tests and the admin page."""
    query = select(AlertDelivery).order_by(AlertDelivery.id)
    if target_id is not None:
        query = query.where(AlertDelivery.target_id == target_id)
    return list(session.scalars(query))
