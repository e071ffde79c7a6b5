"""Registering, listing and changing targets. Tokens never leave through a listing."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.contract import (
    CONTRACT_HEALTH_PATH,
    CONTRACT_POINTER,
    CONTRACT_PREDICT_PATH,
    ID_PLACEHOLDER,
    OPENAI_CHAT_PATH,
    OPENAI_HEALTH_PATH,
    TEXT_PLACEHOLDER,
    TargetKind,
)
from core.errors import ClfwatchError
from storage.models import (
    MODEL_MAX_CHARS,
    TARGET_NAME_MAX_CHARS,
    URL_MAX_CHARS,
    Target,
    TargetChange,
    utcnow,
)

NAME_MAX_CHARS = TARGET_NAME_MAX_CHARS
Actor = Literal["operator", "team", "admin"]
ACTORS: tuple[str, ...] = ("operator", "team", "admin")
# 32 random bytes: far beyond guessing, short enough to paste into a curl line.
TEAM_KEY_BYTES = 32
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e")
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
DEFAULT_PREDICT_PATH = CONTRACT_PREDICT_PATH
DEFAULT_HEALTH_PATH = CONTRACT_HEALTH_PATH
DEFAULT_PROBABILITY_POINTER = CONTRACT_POINTER
# Each kind's routes when none are given.
DEFAULT_PATHS: dict[str, tuple[str, str]] = {
    TargetKind.CLASSIFIER: (CONTRACT_PREDICT_PATH, CONTRACT_HEALTH_PATH),
    TargetKind.OPENAI_CHAT: (OPENAI_CHAT_PATH, OPENAI_HEALTH_PATH),
}


class TargetError(ClfwatchError, ValueError):
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
    self_service: bool = False
    key_issued_at: datetime | None = None
    kind: str = TargetKind.CLASSIFIER  # core.contract.TargetKind
    model: str | None = None  # openai-chat only: the model every chat probe asks for
    # Likely mistakes in the URL (e.g. the base URL already ends in the predict path).
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TargetChangeView:
    """One audited change: when, who, which fields (never a value)."""

    at: datetime
    actor: str
    fields: tuple[str, ...]


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
    # Registered by the team: every probe must re-check its address against the allowed networks.
    self_service: bool = False
    kind: str = TargetKind.CLASSIFIER  # core.contract.TargetKind
    model: str | None = None  # openai-chat only

    def __repr__(self) -> str:  # keeps the token out of logs and tracebacks
        return f"ProbeTarget(id={self.id}, name={self.name!r}, base_url={self.base_url!r})"


def _char_problem(ch: str) -> str | None:
    code = f"U+{ord(ch):04X}"
    if ch in ZERO_WIDTH:
        return f"a zero-width character ({code})"
    if ch in BIDI_CONTROLS:
        return f"a bidirectional control character ({code})"
    if unicodedata.category(ch) == "Cc":
        return f"a control character ({code})"
    if ch != " " and not ch.isprintable():
        return f"a non-printable character ({code})"
    return None


def normalise_name(name: str) -> str:
    """NFC form of ``name``: the same letters typed two ways are one name."""
    return unicodedata.normalize("NFC", name)


def validate_name(name: str) -> str:
    """A team name: printable Unicode (``|`` and any script), NFC, 1-100 characters, no edge space."""
    name = normalise_name(name)
    shown = name[:TARGET_NAME_MAX_CHARS].encode("unicode_escape").decode("ascii")
    if not name.strip():
        raise TargetError("invalid name: it is empty; give 1-100 printable characters")
    if name != name.strip():
        raise TargetError(f"invalid name '{shown}': it starts or ends with a space; remove it")
    if len(name) > TARGET_NAME_MAX_CHARS:
        raise TargetError(
            f"invalid name: {len(name)} characters, at most {TARGET_NAME_MAX_CHARS} allowed"
        )
    for pos, ch in enumerate(name, 1):
        problem = _char_problem(ch)
        if problem:
            raise TargetError(
                f"invalid name '{shown}': {problem} at position {pos}; remove it"
            )
    return name


def _check_name_free(session: Session, name: str, *, except_id: int | None = None) -> None:
    folded = name.casefold()
    for other_id, other in session.execute(select(Target.id, Target.name)):
        if other_id != except_id and other.casefold() == folded:
            if other == name:
                raise TargetError(f"a target named {name!r} exists already")
            raise TargetError(
                f"the name {name!r} is taken: it equals the existing target {other!r} "
                "ignoring case; choose another name"
            )


def validate_url(url: str) -> str:
    """An http(s) URL with a host, no query or fragment, no whitespace; without trailing slash."""
    for pos, ch in enumerate(url, 1):
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
            what = "a space" if ch == " " else f"a whitespace or control character (U+{ord(ch):04X})"
            shown = url[:200].encode("unicode_escape").decode("ascii")
            raise TargetError(f"invalid URL '{shown}': {what} at position {pos}; remove it")
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


def url_warnings(base_url: str, predict_path: str, health_path: str) -> list[str]:
    """Likely mistakes in a valid target URL; empty when none. Warnings, not refusals."""
    path = urlsplit(base_url).path.rstrip("/")
    warnings = []
    for what, suffix in (("predict", predict_path), ("health", health_path)):
        suffix = suffix.rstrip("/")
        if suffix and path.endswith(suffix):
            base = base_url.rstrip("/")[: -len(suffix)] or base_url
            warnings.append(
                f"warning: the base URL {base_url} already ends in the {what} path {suffix}; "
                f"probes will go to {base_url.rstrip('/')}{predict_path}. "
                f"Did you mean the base URL {base}?"
            )
    return warnings


def validate_path(path: str, what: str) -> str:
    if not path.startswith("/") or any(
        c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in path
    ):
        raise TargetError(f"invalid {what} {path[:100]!r}: must start with '/' and hold no spaces")
    return path


def validate_template(template: str | None) -> str | None:
    """A JSON document with a ``{text}`` placeholder, or None for the contract's body."""
    if template is None:
        return None
    if TEXT_PLACEHOLDER not in template:
        raise TargetError("invalid template: it must contain the {text} placeholder")
    probe = template.replace(TEXT_PLACEHOLDER, "x").replace(ID_PLACEHOLDER, "x")
    try:
        json.loads(probe)
    except json.JSONDecodeError as exc:
        raise TargetError(f"invalid template: not JSON once filled in ({exc.msg})") from None
    return template


def validate_kind(kind: str) -> str:
    try:
        return str(TargetKind(kind))
    except ValueError:
        kinds = ", ".join(k.value for k in TargetKind)
        raise TargetError(f"unknown target kind {str(kind)[:40]!r}: give one of {kinds}") from None


def validate_model(model: str) -> str:
    model = model.strip()
    if not model or len(model) > MODEL_MAX_CHARS or any(c.isspace() or not c.isprintable() for c in model):
        raise TargetError(
            f"invalid model name {model[:100]!r}: give the id the service lists at /v1/models "
            f"(no spaces, at most {MODEL_MAX_CHARS} characters)"
        )
    return model


def validate_health_path(path: str, kind: str) -> str:
    """An openai-chat target may have no health path (""): its health probe asks /v1/models."""
    if kind == TargetKind.OPENAI_CHAT and path == "":
        return path
    return validate_path(path, "health path")


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
        self_service=bool(t.self_service),
        key_issued_at=t.key_issued_at,
        kind=t.kind,
        model=t.model,
        warnings=tuple(url_warnings(t.base_url, t.predict_path, t.health_path)),
    )


def add_target(
    session: Session,
    *,
    name: str,
    base_url: str,
    token: str | None = None,
    predict_path: str | None = None,
    health_path: str | None = None,
    request_template: str | None = None,
    probability_pointer: str = DEFAULT_PROBABILITY_POINTER,
    registered_at: datetime | None = None,
    self_service: bool = False,
    kind: str = TargetKind.CLASSIFIER,
    model: str | None = None,
) -> TargetView:
    """Register a target; TargetError if anything is invalid or the name is taken.

    ``self_service`` marks a team's own registration (team API, Register page). Paths left
    None take the kind's defaults (``DEFAULT_PATHS``). An openai-chat target needs a model and
    has no template or pointer (those are the classifier contract's). The returned view's
    ``warnings`` name likely URL mistakes.
    """
    name = validate_name(name)
    kind = validate_kind(kind)
    default_predict, default_health = DEFAULT_PATHS[kind]
    if kind == TargetKind.OPENAI_CHAT:
        if request_template is not None or probability_pointer != DEFAULT_PROBABILITY_POINTER:
            raise TargetError(
                "an openai-chat target takes no request template or probability pointer: "
                "those belong to classifiers; leave them out"
            )
        if model is None:
            raise TargetError("an openai-chat target needs a model: give the id its /v1/models lists")
    elif model is not None:
        raise TargetError("only openai-chat targets take a model; leave it out for a classifier")
    target = Target(
        name=name,
        kind=kind,
        model=validate_model(model) if model is not None else None,
        base_url=validate_url(base_url),
        token=token or None,
        predict_path=validate_path(predict_path or default_predict, "predict path"),
        health_path=validate_health_path(
            default_health if health_path is None else health_path, kind
        ),
        request_template=validate_template(request_template),
        probability_pointer=validate_pointer(probability_pointer),
        registered_at=registered_at or utcnow(),
        active=True,
        self_service=self_service,
    )
    _check_name_free(session, name)
    session.add(target)
    session.flush()
    return _view(target)


def _get(session: Session, name: str) -> Target:
    target = session.scalar(select(Target).where(Target.name == normalise_name(name)))
    if target is None:
        raise TargetError(f"no target named {name[:TARGET_NAME_MAX_CHARS]!r}")
    return target


def _audit(session: Session, target: Target, actor: str, fields: list[str]) -> None:
    if actor not in ACTORS:
        raise TargetError(f"unknown actor {actor!r}: one of {', '.join(ACTORS)}")
    if fields:
        session.add(TargetChange(target_id=target.id, at=utcnow(), actor=actor, fields=fields))


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "name": validate_name,
    "base_url": validate_url,
    "predict_path": lambda v: validate_path(v, "predict path"),
    "health_path": lambda v: validate_path(v, "health path"),
    "request_template": validate_template,
    "probability_pointer": validate_pointer,
    "model": validate_model,
}


def update_target(
    session: Session,
    name: str,
    /,
    *,
    actor: Actor | str = "operator",
    clear_token: bool = False,
    clear_template: bool = False,
    **changes: object,
) -> TargetView:
    """Change fields of a target in place: id, registered_at and history stay.

    ``token=None`` (or absent) keeps the stored token, ``clear_token`` removes it; likewise
    ``clear_template``. Each call that changes something writes one audit row naming the
    changed fields (never a value). TargetError on an invalid value or unknown field.
    """
    target = _get(session, name)
    changed: list[str] = []
    for key, value in changes.items():
        if key == "token":
            if value is None:
                continue
            if not isinstance(value, str) or not value:
                raise TargetError("invalid token: give a non-empty token, or clear it instead")
            if value != target.token:
                target.token = value
                changed.append("token")
            continue
        if key == "active":
            if bool(value) != target.active:
                target.active = bool(value)
                changed.append("active")
            continue
        if key not in _VALIDATORS:
            raise TargetError(f"unknown target field {key!r}")
        if value is None:
            continue
        if key == "model" and target.kind != TargetKind.OPENAI_CHAT:
            raise TargetError("only openai-chat targets take a model; leave it out for a classifier")
        if key in ("request_template", "probability_pointer") and target.kind == TargetKind.OPENAI_CHAT:
            what = key.replace("_", " ")
            raise TargetError(f"an openai-chat target takes no {what}: it belongs to classifiers")
        new = (
            validate_health_path(value, target.kind)  # type: ignore[arg-type]
            if key == "health_path"
            else _VALIDATORS[key](value)
        )
        if key == "name":
            _check_name_free(session, new, except_id=target.id)
        if new != getattr(target, key):
            setattr(target, key, new)
            changed.append(key)
    if clear_token and target.token is not None:
        if "token" in changed:
            raise TargetError("give either a new token or clear it, not both")
        target.token = None
        changed.append("token")
    if clear_template and target.request_template is not None:
        if "request_template" in changed:
            raise TargetError("give either a new template or clear it, not both")
        target.request_template = None
        changed.append("request_template")
    _audit(session, target, actor, changed)
    session.flush()
    return _view(target)


def get_target_by_id(session: Session, target_id: int) -> TargetView:
    """One target by id, without its token; TargetError if unknown."""
    target = session.get(Target, target_id)
    if target is None:
        raise TargetError(f"no target with id {target_id}")
    return _view(target)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_team_key(session: Session, name: str, *, actor: Actor | str) -> str:
    """A new random key for the team; only its hash is stored, the old key stops working.

    The key is returned once: nobody can read it back later.
    """
    target = _get(session, name)
    key = secrets.token_urlsafe(TEAM_KEY_BYTES)
    target.key_hash = _key_hash(key)
    target.key_issued_at = utcnow()
    _audit(session, target, actor, ["key"])
    session.flush()
    return key


def target_for_key(session: Session, key: str) -> TargetView | None:
    """The target whose key this is, or None. Looked up by hash, confirmed in constant time."""
    if not key:
        return None
    digest = _key_hash(key)
    target = session.scalar(select(Target).where(Target.key_hash == digest))
    if target is None or not hmac.compare_digest(target.key_hash or "", digest):
        return None
    return _view(target)


def target_changes(session: Session, target_id: int) -> list[TargetChangeView]:
    """The audited changes of one target, newest first; empty list when none."""
    rows = session.scalars(
        select(TargetChange)
        .where(TargetChange.target_id == target_id)
        .order_by(TargetChange.at.desc(), TargetChange.id.desc())
    )
    return [TargetChangeView(at=r.at, actor=r.actor, fields=tuple(r.fields)) for r in rows]


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
            self_service=bool(t.self_service),
            kind=t.kind,
            model=t.model,
        )
        for t in session.scalars(query)
    ]
