"""What a team can do by itself, as plain functions: the API routes and the dashboard pages both
call these, so the rules (registration code, SSRF guard, audit actor, key rotation) live once.

Each function takes a session and returns plain JSON-able values; a refusal raises a
``TeamError`` whose ``status`` is the HTTP status the API answers and whose message is one
line fit to show the team (never SQL, a token, a key hash or a hidden label).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from limits import parse
from slowapi import Limiter
from slowapi.util import get_remote_address
from sqlalchemy.orm import Session

from alerts import channels
from core.contract import TargetKind
from core.errors import ClfwatchError
from core.netguard import AddressRefused, check_url
from core.settings import Settings
from probes.llm_discovery import FIX_API, FIX_PAGE, BaseUrlEndsInV1, DiscoveryError, TokenRequired
from probes.llm_registration import check_key_after_registration, resolve_model
from scoring.board import Scoreboard, TargetScore, grade_now
from scoring.rules import RulesError, load_grading_defaults
from storage.targets import (
    TargetError,
    TargetView,
    add_target,
    get_target_by_id,
    issue_team_key,
    target_changes,
    target_for_key,
    update_target,
    validate_kind,
    validate_name,
    validate_url,
)
from storage.team_queries import FAILED_PROBES_LIMIT, failed_probes

TEAM_ACTOR = "team"
BOARD_TTL_S = 15.0  # the grade moves slowly; a team's status may be this far behind
# The fields a team may set, as the API names them -> the storage field.
TEAM_FIELDS = {
    "name": "name",
    "url": "base_url",
    "token": "token",
    "predict_path": "predict_path",
    "health_path": "health_path",
    "template": "request_template",
    "probability_pointer": "probability_pointer",
    "model": "model",
}
BADGE_LABEL = "clfwatch"
FAILED_AUTH_LIMIT = "10/minute"  # failed registration codes or keys per client address
FAILED_AUTH_SCOPE = "failed-auth"


@dataclass(frozen=True)
class Wording:
    """How a refusal names the fields to fix: the API's JSON fields, or the Register page's boxes."""

    model_fix: str  # how to give the model explicitly
    token_field: str  # where the service's bearer key goes
    model_change: str  # how to choose another model later


API_WORDING = Wording(FIX_API, 'the "token" field', 'send PATCH /api/v1/teams/me with "model"')
PAGE_WORDING = Wording(FIX_PAGE, "the bearer key field", "change Model on the My team page")


class TeamError(ClfwatchError):
    """A refusal the team can act on; ``status`` is the HTTP status of the API's answer."""

    status = 400


class RegistrationClosed(TeamError):
    status = 403


class WrongCode(TeamError):
    status = 403


class BadKey(TeamError):
    status = 401


class Invalid(TeamError):
    status = 422


class NotFound(TeamError):
    status = 404


class BoardPrivate(TeamError):
    status = 403


class GradingBroken(TeamError):
    status = 503


class TooManyFailures(TeamError):
    status = 429


class FailedAuthGuard:
    """Counts failed registration codes and keys per client address, in slowapi's limiter.

    Only failures are counted (a whole class behind one NAT registering and reading its
    status is never locked out by its own traffic); an address with more than
    ``FAILED_AUTH_LIMIT`` of them in the moving window gets TooManyFailures until it moves on.
    The API and the dashboard pages each hold one for their process.
    """

    def __init__(self, limit: str = FAILED_AUTH_LIMIT) -> None:
        # slowapi's Limiter brings the storage and the moving-window strategy; we call its
        # limiter directly because slowapi's decorators count every request, not failures.
        self._limiter = Limiter(
            key_func=get_remote_address, strategy="moving-window", storage_uri="memory://"
        )
        self._limit = parse(limit)

    def check(self, address: str) -> None:
        """TooManyFailures when ``address`` has used up its failures."""
        if not self._limiter.limiter.test(self._limit, address, FAILED_AUTH_SCOPE):
            raise TooManyFailures(
                "too many failed registration codes or keys from your address; wait a minute"
            )

    def failed(self, address: str) -> None:
        self._limiter.limiter.hit(self._limit, address, FAILED_AUTH_SCOPE)


@dataclass(frozen=True)
class Registered:
    """A new team: its target's id and name, and its key, shown this once and never again.

    An openai-chat target also carries its model and the registration's warnings (several
    models listed, the service's own key not enforced), and the key check's verdict.
    """

    id: int
    name: str
    key: str
    kind: str = TargetKind.CLASSIFIER
    model: str | None = None
    key_enforced: bool | None = None  # openai-chat: the service refused requests without its key
    warnings: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        """The registration's answer; a classifier's is the API's first one, unchanged."""
        answer: dict[str, Any] = {"id": self.id, "name": self.name, "key": self.key}
        if self.kind != TargetKind.CLASSIFIER:
            answer.update(kind=self.kind, model=self.model, key_enforced=self.key_enforced,
                          warnings=list(self.warnings))
        return answer

    def __repr__(self) -> str:  # keeps the key out of logs and tracebacks
        return f"Registered(id={self.id}, name={self.name!r})"


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat(timespec="seconds")


# --- the board, shared by me, badges and the public board ------------------------------------


class BoardCache:
    """The scoreboard of one database, computed at most every ``ttl_s`` seconds.

    Every ``me``, badge and board request needs the whole board (ranks are relative); one
    computation serves them all for a few seconds instead of one per request.
    """

    def __init__(self, ttl_s: float = BOARD_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._board: Scoreboard | None = None
        self._at = 0.0

    def get(self, session: Session, settings: Settings) -> Scoreboard:
        with self._lock:
            if self._board is None or self._clock() - self._at > self._ttl_s:
                try:
                    self._board = grade_now(session, load_grading_defaults(
                        rules_file=settings.rules_file, defense_at=settings.defense_at))
                except RulesError:
                    raise GradingBroken(
                        "the grade cannot be computed right now (the operator's grading rules are "
                        "invalid); try again later"
                    ) from None
                self._at = self._clock()
            return self._board

    def clear(self) -> None:
        with self._lock:
            self._board = None


def _entry(board: Scoreboard, target_id: int) -> tuple[TargetScore, dict[str, Any]] | None:
    """The target's score and JSON entry, from whichever board (classifier or openai-chat) holds it."""
    document = board.to_dict()
    boards = ((board.targets, document["targets"]), (board.llm_targets, document.get("llm_targets", [])))
    for scores, entries in boards:
        for score, entry in zip(scores, entries, strict=True):
            if score.target_id == target_id:
                return score, entry
    return None


# --- registration and keys -------------------------------------------------------------------


def _check_code(settings: Settings, code: str) -> None:
    expected = settings.registration_code
    if expected is None:
        raise RegistrationClosed(
            "self-registration is off on this clfwatch; ask the instructor to register your team"
        )
    if not hmac.compare_digest(code.encode(), expected.get_secret_value().encode()):
        raise WrongCode("wrong registration code; use the code your instructor gave the course")


def _check_reachable(settings: Settings, url: str) -> str:
    """The URL in its stored form, if the SSRF guard lets a self-registered target use it."""
    try:
        url = validate_url(url)
    except TargetError as exc:
        raise Invalid(f"url: {exc}") from None
    try:
        check_url(url, settings.allowed_networks)
    except AddressRefused as exc:
        raise Invalid(f"url: {exc}") from None
    return url


def register_team(
    session: Session,
    settings: Settings,
    *,
    name: str,
    url: str,
    registration_code: str,
    token: str | None = None,
    predict_path: str | None = None,
    health_path: str | None = None,
    template: str | None = None,
    probability_pointer: str | None = None,
    kind: str = TargetKind.CLASSIFIER,
    model: str | None = None,
    wording: Wording = API_WORDING,
) -> Registered:
    """Register a team's target with the course code; the key is returned once, stored hashed.

    An openai-chat target needs ``token`` (the key its service demands) and takes ``model`` or
    the first that its ``/v1/models`` lists (read within the self-service networks); its key
    enforcement is checked right after, and the check's probe rows are stored. ``wording``: the
    Register page passes ``PAGE_WORDING``, so its refusals name its own fields.
    """
    _check_code(settings, registration_code)
    try:
        kind = validate_kind(kind)
        validate_name(name)  # a typo is refused before the service is asked anything
    except TargetError as exc:
        raise Invalid(str(exc)) from None
    base_url = _check_reachable(settings, url)
    warnings: list[str] = []
    if kind == TargetKind.OPENAI_CHAT:
        model = _chat_model(settings, base_url, token, model, template, probability_pointer, warnings,
                            wording)
    optional = {
        "predict_path": predict_path,
        "health_path": health_path,
        "request_template": template,
        "probability_pointer": probability_pointer,
        "model": model,
    }
    try:
        view = add_target(
            session, name=name, base_url=base_url, token=token or None, self_service=True, kind=kind,
            **{k: v for k, v in optional.items() if v is not None},  # type: ignore[arg-type]
        )
        key = issue_team_key(session, view.name, actor=TEAM_ACTOR)
    except TargetError as exc:
        raise Invalid(str(exc)) from None
    enforced = None
    if kind == TargetKind.OPENAI_CHAT:
        # Stored first: the check waits on the team's service, and must not hold the write lock
        # (SQLite's is the whole database's) while it does.
        session.commit()
        check = check_key_after_registration(session, view.id, networks=settings.allowed_networks)
        enforced = check.enforced
        warnings += [check.warning] if check.warning else []
    return Registered(id=view.id, name=view.name, key=key, kind=view.kind, model=view.model,
                      key_enforced=enforced, warnings=tuple(warnings))


def _chat_model(
    settings: Settings, base_url: str, token: str | None, model: str | None, template: str | None,
    probability_pointer: str | None, warnings: list[str], wording: Wording,
) -> str:
    """The model an openai-chat registration stores; Invalid with the CLI's reasons, in API words."""
    for field, value in (("template", template), ("probability_pointer", probability_pointer)):
        if value is not None:
            raise Invalid(
                f"{field}: belongs to classifiers; an openai-chat target is asked the OpenAI chat "
                f"format, leave {field} out"
            )
    try:
        chosen = resolve_model(
            base_url=base_url, token=token, model=model, fix=wording.model_fix,
            token_flag=wording.token_field, networks=settings.allowed_networks, name_url=False,
        )
    except (BaseUrlEndsInV1, DiscoveryError, TokenRequired) as exc:
        raise Invalid(str(exc)) from None
    if chosen.note:
        warnings.append(f"{chosen.note}; {wording.model_change} to choose another")
    return chosen.model


def authenticate(session: Session, key: str) -> int:
    """The id of the target the key belongs to; BadKey when it belongs to none."""
    target = target_for_key(session, key) if key else None
    if target is None:
        raise BadKey(
            "missing or unknown team key; send Authorization: Bearer <the key you got at registration>"
        )
    return int(target.id)


def rotate_key(session: Session, target_id: int) -> str:
    """A new key for the team; the old one stops working with this transaction."""
    target = _target(session, target_id)
    return issue_team_key(session, target.name, actor=TEAM_ACTOR)


def _target(session: Session, target_id: int) -> TargetView:
    try:
        return get_target_by_id(session, target_id)
    except TargetError:
        raise NotFound("your team's target no longer exists; ask the instructor") from None


# --- changes -----------------------------------------------------------------------------------


def update_team(
    session: Session, settings: Settings, target_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply the fields a team sent (audited as ``team``); ``token``/``template`` None clears them.

    A new URL passes the same SSRF guard as at registration. Returns the target as ``me`` shows it.
    """
    target = _target(session, target_id)
    unknown = sorted(set(changes) - set(TEAM_FIELDS))
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}; a team may change {', '.join(TEAM_FIELDS)}")
    storage_changes: dict[str, Any] = {}
    clear_token = clear_template = False
    for field, value in changes.items():
        if field == "token" and value is None and target.kind == TargetKind.OPENAI_CHAT:
            raise Invalid('token: an openai-chat target needs the key its service demands; '
                          'send a new "token" instead of null')
        if field == "token" and value is None:
            clear_token = True
        elif field == "template" and value is None:
            clear_template = True
        elif value is None:
            raise Invalid(f"{field}: may not be null")
        elif field == "url":
            storage_changes["base_url"] = _check_reachable(settings, str(value))
        else:
            storage_changes[TEAM_FIELDS[field]] = value
    if storage_changes or clear_token or clear_template:
        try:
            update_target(
                session, target.name, actor=TEAM_ACTOR, clear_token=clear_token,
                clear_template=clear_template, **storage_changes,
            )
        except TargetError as exc:
            raise Invalid(str(exc)) from None
    return target_document(session, target_id)


# --- reading ---------------------------------------------------------------------------------


def target_document(session: Session, target_id: int) -> dict[str, Any]:
    """The team's own target: every field but the token (only whether one is set)."""
    t = _target(session, target_id)
    return {
        "id": t.id,
        "name": t.name,
        "kind": t.kind,
        "model": t.model,
        "url": t.base_url,
        "predict_path": t.predict_path,
        "health_path": t.health_path,
        "template": t.request_template,
        "probability_pointer": t.probability_pointer,
        "has_token": t.has_token,
        "active": bool(t.active),
        "self_service": t.self_service,
        "registered_at": _iso(t.registered_at),
    }


def team_status(
    session: Session, settings: Settings, target_id: int, *, board: Scoreboard | None = None
) -> dict[str, Any]:
    """What ``GET /api/v1/teams/me`` answers: target, lifetime, grade, failures, changes."""
    document = target_document(session, target_id)
    if board is None:
        board = BoardCache(ttl_s=0).get(session, settings)
    found = _entry(board, target_id)
    grade: dict[str, Any] | None = None
    lifetime_s: float | None = None
    if found is not None:
        score, entry = found
        lifetime_s = round(score.lifetime_s, 3)
        grade = {k: v for k, v in entry.items() if k != "name"}
        grade["of"] = len(board.board_of(score))  # ranks count within the target's kind
        grade["graded_at"] = _iso(board.at)
    failures = failed_probes(session, target_id, limit=FAILED_PROBES_LIMIT)
    changes = target_changes(session, target_id)
    return {
        "target": document,
        "registered_at": document["registered_at"],
        "lifetime_s": lifetime_s,
        "grade": grade,
        "failed_probes": [
            {
                "started_at": _iso(f.started_at),
                "kind": f.kind,
                "outcome": f.outcome,
                "status": f.status_code,
                "latency_ms": f.latency_ms,
                "detail": f.detail,
                "body_excerpt": f.body_excerpt,
            }
            for f in failures
        ],
        "changes": [
            {"at": _iso(c.at), "actor": c.actor, "fields": list(c.fields)} for c in changes
        ],
    }


def public_board(session: Session, settings: Settings, *, board: Scoreboard | None = None) -> dict[str, Any]:
    """The board as ``score --format json`` gives it, when the operator made it public."""
    if not settings.public_board:
        raise BoardPrivate("the board is not public here; the operator can set CLFWATCH_PUBLIC_BOARD=true")
    if board is None:
        board = BoardCache(ttl_s=0).get(session, settings)
    return board.to_dict()


# --- badge -----------------------------------------------------------------------------------


def _badge_text(score: TargetScore | None, of: int) -> tuple[str, str]:
    """The right half of the badge and its colour: uptime share and place."""
    if score is None:
        return "not graded", "#9f9f9f"
    uptime = score.components.get("uptime")
    if uptime is None or uptime.raw is None:
        return f"rank {score.rank}/{of} · uptime n/a", "#9f9f9f"
    share = uptime.raw
    colour = "#4c1" if share >= 0.99 else "#dfb317" if share >= 0.95 else "#e05d44"
    return f"uptime {100 * share:.1f} % · rank {score.rank}/{of}", colour


def _text_width(text: str) -> int:
    return 10 + 7 * len(text)  # Verdana 11 px averages about 7 px a character


def badge_svg(
    session: Session, settings: Settings, target_id: int, *, board: Scoreboard | None = None
) -> str:
    """A shields-style SVG with the target's uptime and rank; NotFound for an unknown id."""
    try:
        get_target_by_id(session, target_id)
    except TargetError:
        raise NotFound(f"no target with id {target_id}") from None
    if board is None:
        board = BoardCache(ttl_s=0).get(session, settings)
    found = _entry(board, target_id)
    value, colour = _badge_text(found[0] if found else None,
                                len(board.board_of(found[0])) if found else len(board.targets))
    left, right = _text_width(BADGE_LABEL), _text_width(value)
    total = left + right
    label, value = escape(BADGE_LABEL), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{label}: {value}"><title>{label}: {value}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label}</text>'
        f'<text x="{left + right / 2}" y="14">{value}</text></g></svg>'
    )


# Apprise schemes that post to a host the team names: the same SSRF guard as its target's URL.
WEBHOOK_SCHEMES = {"json": "http", "jsons": "https", "xml": "http", "xmls": "https",
                   "form": "http", "forms": "https"}


def add_notification(session: Session, settings: Settings, target_id: int, url: str) -> dict[str, Any]:
    """Add an Apprise channel for the team's own target; Invalid with Apprise's reason.

    Blocking (Apprise loads its plugins once): the API calls it from a sync route.
    """
    scheme, _, rest = url.strip().partition("://")
    web = WEBHOOK_SCHEMES.get(scheme.lower())
    if web is not None:
        try:
            check_url(f"{web}://{rest}", settings.allowed_networks)
        except AddressRefused as exc:
            raise Invalid(f"notification URL refused: {exc}") from None
    try:
        view = channels.add_channel(session, target_id, url)
    except channels.ChannelURLError as exc:
        raise Invalid(str(exc)) from None
    return _channel_document(view)


def list_notifications(session: Session, target_id: int) -> list[dict[str, Any]]:
    """The team's own channels, masked: a URL once given is never shown back in full."""
    return [_channel_document(v) for v in channels.list_channels(session, target_id)]


def remove_notification(session: Session, target_id: int, channel_id: int) -> None:
    """Delete one of the team's own channels; another target's reads as "no such channel"."""
    try:
        channels.remove_channel(session, channel_id, target_id=target_id)
    except channels.ChannelError:
        raise NotFound(f"no notification channel {channel_id} on your team") from None


def _channel_document(view: channels.ChannelView) -> dict[str, Any]:
    return {"id": view.id, "url": view.masked, "created_at": _iso(view.created_at)}
