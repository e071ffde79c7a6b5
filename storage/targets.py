"""Registering, listing and changing targets. Tokens never leave through a listing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import NAME_MAX_CHARS, URL_MAX_CHARS, Target, utcnow

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
DEFAULT_PREDICT_PATH = "/predict"
DEFAULT_HEALTH_PATH = "/health"
DEFAULT_PROBABILITY_POINTER = "/probability"


class TargetError(ValueError):
    """A target's definition is invalid, or the target does not exist."""


@dataclass(frozen=True)
class TargetView:
    """A target as every reader sees it: everything but the token."""

    id: int
    name: str
    base_url: str
    predict_path: str
    health_path: str
    request_template: str | None
    probability_pointer: str
    has_token: bool
    registered_at: datetime
    active: bool


@dataclass(frozen=True)
class ProbeTarget:
    """What the prober needs to reach a target, token included. Never print it."""

    id: int
    name: str
    base_url: str
    predict_path: str
    health_path: str
    request_template: str | None
    probability_pointer: str
    token: str | None = None

    def __repr__(self) -> str:  # keeps the token out of logs and tracebacks
        return f"ProbeTarget(id={self.id}, name={self.name!r}, base_url={self.base_url!r})"


def validate_name(name: str) -> str:
    """A short, printable team name."""
    name = name.strip()
    if not name or len(name) > NAME_MAX_CHARS or not NAME_PATTERN.match(name):
        raise TargetError(
            f"invalid name {name[:NAME_MAX_CHARS]!r}: 1-{NAME_MAX_CHARS} characters, "
            "letters, digits, space, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def validate_url(url: str) -> str:
    """An http(s) URL with a host, no query or fragment; returned without a trailing slash."""
    url = url.strip()
    if len(url) > URL_MAX_CHARS:
        raise TargetError(f"URL longer than {URL_MAX_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"invalid URL {url[:200]!r}: the scheme must be http or https")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise TargetError(f"invalid URL {url[:200]!r}: bad port") from None
    if not parts.hostname:
        raise TargetError(f"invalid URL {url[:200]!r}: no host")
    if parts.query or parts.fragment:
        raise TargetError(f"invalid URL {url[:200]!r}: no query or fragment allowed")
    return url.rstrip("/")


def validate_path(path: str, what: str) -> str:
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise TargetError(f"invalid {what} {path[:100]!r}: must start with '/' and hold no spaces")
    return path


def validate_template(template: str | None) -> str | None:
    """A JSON document with a ``{text}`` placeholder, or None for the contract's body."""
    if template is None:
        return None
    if "{text}" not in template:
        raise TargetError("invalid template: it must contain the {text} placeholder")
    probe = template.replace("{text}", "x").replace("{id}", "x")
    try:
        json.loads(probe)
    except json.JSONDecodeError as exc:
        raise TargetError(f"invalid template: not JSON once filled in ({exc.msg})") from None
    return template


def validate_pointer(pointer: str) -> str:
    if pointer and not pointer.startswith("/"):
        raise TargetError(f"invalid JSON pointer {pointer[:100]!r}: must start with '/'")
    return pointer


def _view(t: Target) -> TargetView:
    return TargetView(
        id=t.id,
        name=t.name,
        base_url=t.base_url,
        predict_path=t.predict_path,
        health_path=t.health_path,
        request_template=t.request_template,
        probability_pointer=t.probability_pointer,
        has_token=bool(t.token),
        registered_at=t.registered_at,
        active=t.active,
    )


def add_target(
    session: Session,
    *,
    name: str,
    base_url: str,
    token: str | None = None,
    predict_path: str = DEFAULT_PREDICT_PATH,
    health_path: str = DEFAULT_HEALTH_PATH,
    request_template: str | None = None,
    probability_pointer: str = DEFAULT_PROBABILITY_POINTER,
    registered_at: datetime | None = None,
) -> TargetView:
    """Register a target; TargetError if anything is invalid or the name is taken."""
    name = validate_name(name)
    target = Target(
        name=name,
        base_url=validate_url(base_url),
        token=token or None,
        predict_path=validate_path(predict_path, "predict path"),
        health_path=validate_path(health_path, "health path"),
        request_template=validate_template(request_template),
        probability_pointer=validate_pointer(probability_pointer),
        registered_at=registered_at or utcnow(),
        active=True,
    )
    if session.scalar(select(Target.id).where(Target.name == name)) is not None:
        raise TargetError(f"a target named {name!r} exists already")
    session.add(target)
    session.flush()
    return _view(target)


def _get(session: Session, name: str) -> Target:
    target = session.scalar(select(Target).where(Target.name == name))
    if target is None:
        raise TargetError(f"no target named {name[:NAME_MAX_CHARS]!r}")
    return target


def update_target(session: Session, name: str, **changes: object) -> TargetView:
    """Change fields of a target (same validation as ``add_target``); token None keeps it."""
    target = _get(session, name)
    validators = {
        "base_url": validate_url,
        "predict_path": lambda v: validate_path(v, "predict path"),
        "health_path": lambda v: validate_path(v, "health path"),
        "request_template": validate_template,
        "probability_pointer": validate_pointer,
        "name": validate_name,
    }
    for key, value in changes.items():
        if key == "token":
            if value is not None:
                target.token = str(value) or None
            continue
        if key in ("active", "registered_at"):
            setattr(target, key, value)
            continue
        if key not in validators:
            raise TargetError(f"unknown target field {key!r}")
        setattr(target, key, validators[key](value))  # type: ignore[operator,arg-type]
    session.flush()
    return _view(target)


def set_active(session: Session, name: str, active: bool) -> TargetView:
    """Switch probing of a target on or off; its history stays."""
    target = _get(session, name)
    target.active = active
    session.flush()
    return _view(target)


def remove_target(session: Session, name: str) -> None:
    """Delete a target and, by cascade, its probe rows."""
    session.delete(_get(session, name))
    session.flush()


def list_targets(session: Session, *, active_only: bool = False) -> list[TargetView]:
    """Every target by name, without tokens; empty list when none."""
    query = select(Target).order_by(Target.name)
    if active_only:
        query = query.where(Target.active.is_(True))
    return [_view(t) for t in session.scalars(query)]


def get_target(session: Session, name: str) -> TargetView:
    """One target without its token; TargetError if unknown."""
    return _view(_get(session, name))


def probe_targets(session: Session, *, ids: list[int] | None = None) -> list[ProbeTarget]:
    """Active targets with what the prober needs to reach them, token included."""
    query = select(Target).where(Target.active.is_(True)).order_by(Target.id)
    if ids is not None:
        query = query.where(Target.id.in_(ids))
    return [
        ProbeTarget(
            id=t.id,
            name=t.name,
            base_url=t.base_url,
            predict_path=t.predict_path,
            health_path=t.health_path,
            request_template=t.request_template,
            probability_pointer=t.probability_pointer,
            token=t.token,
        )
        for t in session.scalars(query)
    ]
