"""Looking up a registered target for a stress run, token included (never printed)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Target
from storage.targets import ProbeTarget


def _probe_target(t: Target) -> ProbeTarget:
    return ProbeTarget(
        id=t.id, name=t.name, base_url=t.base_url, predict_path=t.predict_path, health_path=t.health_path,
        request_template=t.request_template, probability_pointer=t.probability_pointer, token=t.token,
        kind=t.kind, model=t.model,
    )


def stress_target_by_name(session: Session, name: str) -> ProbeTarget | None:
    """The target called ``name`` (active or not); None when no such target."""
    target = session.scalar(select(Target).where(Target.name == name))
    return _probe_target(target) if target is not None else None


def stress_target_by_url(session: Session, base_url: str) -> ProbeTarget | None:
    """The first target (by id) registered at ``base_url`` (trailing slash ignored); None when none."""
    url = base_url.rstrip("/")
    target = session.scalar(select(Target).where(Target.base_url == url).order_by(Target.id).limit(1))
    return _probe_target(target) if target is not None else None
