"""The team API over HTTP (FastAPI): thin routes over ``teamapi.service``.

Every answer is JSON, every error ``{"detail": "..."}`` in one line that never echoes what was
sent. A body over 64 kB is refused before it is read; a field the route does not know is a 422
naming it. Failed registration codes and keys are counted per client address
(``teamapi.service.FailedAuthGuard``, on slowapi's limiter): more than ten in a minute get 429.
"""

# No ``from __future__ import annotations``: FastAPI must see the routes' dependency
# annotations, which name objects local to create_app, as real objects.
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from slowapi.util import get_remote_address
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.settings import Settings
from storage.engine import session_scope
from teamapi import service
from teamapi.service import BadKey, BoardCache, FailedAuthGuard, TeamError, WrongCode

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024
DETAIL_MAX_CHARS = 200
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BADGE_MAX_AGE_S = 60
OTHER_ROUTE = "other"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KIND_HELP = '"classifier" (default) or "openai-chat" (an OpenAI-compatible /v1/chat/completions).'
TOKEN_HELP = (
    "The bearer key YOUR SERVICE demands; clfwatch sends it to your service and never shows it. "
    "Not the team key clfwatch gives you (that one is the answer's `key`). Required for openai-chat."
)
MODEL_HELP = "openai-chat only: the model to ask for; default the first your GET /v1/models lists."
BEARER = HTTPBearer(auto_error=False, description="The team key from registration.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


class RegisterBody(BaseModel):
    """``POST /api/v1/teams``; an unknown field is refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(max_length=1000)
    url: str = Field(max_length=4000)
    registration_code: str = Field(max_length=1000)
    kind: str = Field("classifier", max_length=40, description=KIND_HELP)
    token: str | None = Field(None, max_length=1024, description=TOKEN_HELP)
    model: str | None = Field(None, max_length=1000, description=MODEL_HELP)
    predict_path: str | None = Field(None, max_length=1000)
    health_path: str | None = Field(None, max_length=1000)
    template: str | None = Field(None, max_length=16_000)
    probability_pointer: str | None = Field(None, max_length=1000)


class PatchBody(BaseModel):
    """``PATCH /api/v1/teams/me``: only the fields sent change; ``token``/``template`` null clears."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, max_length=4000)
    token: str | None = Field(None, max_length=1024, description=TOKEN_HELP)
    model: str | None = Field(None, max_length=1000, description="openai-chat only: the model to ask for.")
    predict_path: str | None = Field(None, max_length=1000)
    health_path: str | None = Field(None, max_length=1000)
    template: str | None = Field(None, max_length=16_000)
    probability_pointer: str | None = Field(None, max_length=1000)


class NotificationBody(BaseModel):
    """``POST /api/v1/teams/me/notifications``: one Apprise URL (json://, mailto://, tgram://, ...)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(max_length=2000)


class ApiMetrics:
    """The API's own Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "clfwatch_api_requests", "HTTP requests answered.", ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "clfwatch_api_request_duration_seconds", "Time to answer a request.", ["route"],
            buckets=LATENCY_BUCKETS_S, registry=self.registry,
        )
        self.registrations = Counter(
            "clfwatch_api_registrations", "Teams registered through the API.", registry=self.registry
        )
        self.auth_failures = Counter(
            "clfwatch_api_auth_failures", "Wrong registration codes and unknown keys.", ["kind"],
            registry=self.registry,
        )


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = _json_bytes(payload)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class ApiMiddleware:
    """Body cap, metrics, one access line and the bare-500 guard, for every request.

    The cap never holds more than ``max_body_bytes`` plus one chunk: a declared length over it
    is refused before a byte is read, a streamed body the moment it crosses it.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: ApiMetrics,
                 route_of: Callable[[Scope], str]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        status = 500
        response_started = False

        async def send_tracked(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
            await send(message)

        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        try:
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                raise _BodyTooLarge
            if scope.get("method") in ("POST", "PUT", "PATCH"):
                receive = await self._buffered(receive)
            await self.app(scope, receive, send_tracked)
        except _BodyTooLarge:
            if not response_started:
                await _send_json(send_tracked, 413, {"detail": f"body over {self.max_body_bytes} bytes"})
        except Exception:
            log.exception("event=unhandled_error request_id=%s route=%s", request_id, self.route_of(scope))
            if not response_started:
                await _send_json(send_tracked, 500, {"detail": "internal error", "request_id": request_id})
        finally:
            route = self.route_of(scope)
            method = str(scope.get("method", ""))[:10]
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.duration.labels(route=route).observe(elapsed)
            log.info("event=request method=%s route=%s status=%d latency_ms=%.1f",
                     method, route, status, elapsed * 1000)


    async def _buffered(self, receive: Receive) -> Receive:
        """Read the whole body up to the cap (a chunked one too), then replay it to the app."""
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return receive
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def _validation_detail(errors: Sequence[Any]) -> str:
    """One line naming the field and what is wrong with it, never the value sent."""
    if not errors:
        return "invalid request"
    first = errors[0]
    kind = first.get("type")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(loc)
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if kind == "extra_forbidden":
        return f"unknown field {field[:60]!r}; see the API's fields in the README"
    if kind == "missing":
        return f"{field}: required"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "the body must be a JSON object"
    message = str(first.get("msg", "invalid value"))[:DETAIL_MAX_CHARS]
    return f"{field}: {message}" if field else message


def create_app(settings: Settings) -> FastAPI:
    """The team API on ``settings.database_url``; one limiter and one board cache per app."""
    metrics = ApiMetrics()
    guard = FailedAuthGuard()
    boards = BoardCache()
    app = FastAPI(
        title="clfwatch team API",
        description="Register your team's classifier, read your own status, rotate your key.",
        redirect_slashes=False,
    )
    app.state.guard = guard
    app.state.boards = boards

    @contextmanager
    def session() -> Iterator[Session]:
        with session_scope(settings.database_url) as s:
            yield s

    def address(request: Request) -> str:
        return get_remote_address(request) or "unknown"

    def refuse_if_limited(request: Request) -> None:
        guard.check(address(request))

    def count_failure(request: Request, kind: str) -> None:
        guard.failed(address(request))
        metrics.auth_failures.labels(kind=kind).inc()

    def authenticated(request: Request, credentials: Credentials) -> int:
        """The caller's own target id: the only one any route below reads or changes."""
        refuse_if_limited(request)
        key = credentials.credentials if credentials is not None else ""
        with session() as s:
            try:
                return service.authenticate(s, key)
            except BadKey:
                count_failure(request, "key")
                raise

    TeamId = Annotated[int, Depends(authenticated)]

    @app.exception_handler(TeamError)
    async def _team_error(request: Request, exc: TeamError) -> JSONResponse:
        status = exc.status
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 429:
            headers = {"Retry-After": "60"}
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)[:DETAIL_MAX_CHARS]}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.post(f"{API_PREFIX}/teams", status_code=201)
    def register(body: RegisterBody, request: Request) -> dict[str, Any]:
        refuse_if_limited(request)
        fields = body.model_dump(exclude={"registration_code"})
        with session() as s:
            try:
                created = service.register_team(
                    s, settings, registration_code=body.registration_code, **fields
                )
            except WrongCode:
                count_failure(request, "code")
                raise
        metrics.registrations.inc()
        boards.clear()
        log.info("event=team_registered target_id=%d", created.id)
        return created.document()

    @app.get(f"{API_PREFIX}/teams/me")
    def me(team: TeamId) -> dict[str, Any]:
        with session() as s:
            return service.team_status(s, settings, team, board=boards.get(s, settings))

    @app.patch(f"{API_PREFIX}/teams/me")
    def change_me(body: PatchBody, team: TeamId) -> dict[str, Any]:
        changes = body.model_dump(include=body.model_fields_set)
        with session() as s:
            target = service.update_team(s, settings, team, changes)
        boards.clear()
        return target

    @app.post(f"{API_PREFIX}/teams/me/key", status_code=201)
    def new_key(team: TeamId) -> dict[str, Any]:
        with session() as s:
            key = service.rotate_key(s, team)
        return {"id": team, "key": key}

    @app.post(f"{API_PREFIX}/teams/me/notifications", status_code=201)
    def add_notification(body: NotificationBody, team: TeamId) -> dict[str, Any]:
        with session() as s:
            return service.add_notification(s, settings, team, body.url)

    @app.get(f"{API_PREFIX}/teams/me/notifications")
    def notifications(team: TeamId) -> list[dict[str, Any]]:
        with session() as s:
            return service.list_notifications(s, team)

    @app.delete(f"{API_PREFIX}/teams/me/notifications/{{channel_id}}", status_code=204)
    def remove_notification(channel_id: int, team: TeamId) -> Response:
        with session() as s:
            service.remove_notification(s, team, channel_id)
        return Response(status_code=204)

    @app.get(f"{API_PREFIX}/board")
    def board() -> dict[str, Any]:
        with session() as s:
            if not settings.public_board:
                return service.public_board(s, settings)  # raises BoardPrivate
            return service.public_board(s, settings, board=boards.get(s, settings))

    @app.get(f"{API_PREFIX}/teams/{{target_id}}/badge.svg")
    def badge(target_id: int) -> Response:
        with session() as s:
            svg = service.badge_svg(s, settings, target_id, board=boards.get(s, settings))
        return Response(svg, media_type="image/svg+xml",
                        headers={"Cache-Control": f"max-age={BADGE_MAX_AGE_S}"})

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def route_of(scope: Scope) -> str:
        for route in app.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", OTHER_ROUTE))
        return OTHER_ROUTE

    app.add_middleware(ApiMiddleware, max_body_bytes=MAX_BODY_BYTES, metrics=metrics, route_of=route_of)
    return app


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory``: settings and logging from the environment."""
    from core.logs import setup_logging
    from core.settings import get_settings

    settings = get_settings()
    setup_logging(settings.log_level)
    return create_app(settings)
