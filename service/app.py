"""The reference classifier over HTTP: ``POST /predict``, ``GET /health``, ``GET /metrics``.

It is the service every team starts from and the one our stress scenarios are proven against,
so it fails closed and quietly: client mistakes get a short JSON ``detail`` that never echoes
the input, anything unexpected becomes a bare 500 with a request id, and the details go to the
server log only. Cross-cutting work (request id, body cap, metrics, the access line, the 500
guard) sits in one pure ASGI middleware, the cheapest place that sees every request, including
the ones FastAPI's router rejects.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from core.settings import Settings
from service.model import LoadedModel, load_model
from service.traffic import TrafficRing

log = logging.getLogger(__name__)
access_log = logging.getLogger("service.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ID_MAX_CHARS = 256
# Texts up to this length are scored on the event loop (~0.1 ms, cheaper than a thread hop);
# longer ones go to the thread pool so one 100k-character text cannot stall every other request.
INLINE_PREDICT_MAX_CHARS = 4000
REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
RAW_PATH_LOG_CHARS = 200
DETAIL_MAX_CHARS = 160
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER_LABEL = "other"


class PredictRequest(BaseModel):
    """One text to classify; extra fields are ignored, wrong types are refused."""

    model_config = ConfigDict(strict=True, extra="ignore")
    id: str = Field(min_length=1, max_length=ID_MAX_CHARS, description="Echoed back unchanged.")
    text: str = Field(description="The message; longer than the service's text cap gets 413.")


class PredictResponse(BaseModel):
    id: str
    probability: float = Field(ge=0.0, le=1.0, description="Probability that a bot wrote the text.")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model_version: str


class ErrorResponse(BaseModel):
    detail: str


class InternalErrorResponse(BaseModel):
    detail: str
    request_id: str


# /predict reads its body itself (see read_predict_body), so the schema is declared by hand.
PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}
BEARER_SCHEME = HTTPBearer(auto_error=False, description="The value of CLFWATCH_SERVICE_API_KEY.")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Body is not valid JSON or not UTF-8."},
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token (when one is set)."},
    413: {"model": ErrorResponse, "description": "Body over the size cap, or text over the text cap."},
    415: {"model": ErrorResponse, "description": "Body not sent as application/json."},
    422: {"model": ErrorResponse, "description": "Body is JSON of the wrong shape."},
    500: {"model": InternalErrorResponse, "description": "Unexpected error; details in the server log."},
}


class ServiceMetrics:
    """The service's Prometheus metrics, in a registry of their own so apps in one process never clash."""

    def __init__(self, model_version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "clfwatch_service_requests", "HTTP requests answered.", ["method", "path", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "clfwatch_service_request_duration_seconds", "Time to answer a request.", ["path"],
            buckets=LATENCY_BUCKETS_S, registry=self.registry,
        )
        self.in_flight = Gauge(
            "clfwatch_service_requests_in_flight", "Requests being answered now.", registry=self.registry
        )
        self.model_info = Gauge(
            "clfwatch_service_model_info", "The model being served (value is always 1).", ["version"],
            registry=self.registry,
        )
        self.model_info.labels(version=model_version).set(1)
        self.traffic_dropped = Counter(
            "clfwatch_service_traffic_sample_dropped",
            "Texts not kept in the traffic sample: buffer full, or the database failed.", ["reason"],
            registry=self.registry,
        )
        self.traffic_written = Counter(
            "clfwatch_service_traffic_sample_written", "Texts written to the traffic sample.",
            registry=self.registry,
        )


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _json_response(payload: dict[str, Any]) -> Response:
    """Skips response-model validation: the handlers build these bodies from typed values already."""
    return Response(_json_bytes(payload), media_type="application/json")


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


class _ClientGone(Exception):
    pass


class ServiceMiddleware:
    """Request id, body cap, metrics, one access line and the bare-500 guard, for every request.

    The body cap never holds more than ``max_body_bytes`` (plus one chunk) in memory: a declared
    ``Content-Length`` over the cap is refused before a byte is read, and a chunked body is
    counted while it streams in and refused the moment it crosses the cap.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: ServiceMetrics,
                 route_paths: frozenset[str]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.route_paths = route_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id, content_length, chunked = self._read_headers(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            if content_length is not None and content_length > self.max_body_bytes:
                raise _BodyTooLarge
            if chunked:
                receive = await self._buffer_chunked(receive)
            await self.app(scope, receive, send_with_id)
        except _BodyTooLarge:
            await _send_json(send_with_id, 413, {"detail": f"body over {self.max_body_bytes} bytes"})
        except (_ClientGone, ClientDisconnect):
            status = 499  # nginx's "client closed request"; nothing can be sent any more
        except Exception:
            log.exception("unhandled error request_id=%s method=%s path=%s", request_id,
                          _method_label(scope), self._path_label(scope))
            if not response_started:
                await _send_json(send_with_id, 500, {"detail": "internal error", "request_id": request_id})
        finally:
            self.metrics.in_flight.dec()
            latency_s = time.perf_counter() - started_at
            path = self._path_label(scope)
            method = _method_label(scope)
            self.metrics.requests.labels(method=method, path=path, status=str(status)).inc()
            self.metrics.duration.labels(path=path).observe(latency_s)
            if path == OTHER_LABEL:
                access_log.info("request_id=%s method=%s path=%s raw_path=%s status=%d latency_ms=%.2f",
                                request_id, method, path, _escaped(scope.get("path", "")), status,
                                latency_s * 1000)
            else:
                access_log.info("request_id=%s method=%s path=%s status=%d latency_ms=%.2f",
                                request_id, method, path, status, latency_s * 1000)

    def _path_label(self, scope: Scope) -> str:
        path = scope.get("path", "")
        return path if path in self.route_paths else OTHER_LABEL

    @staticmethod
    def _read_headers(scope: Scope) -> tuple[str, int | None, bool]:
        request_id = ""
        content_length: int | None = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if REQUEST_ID_PATTERN.fullmatch(candidate):
                    request_id = candidate
            elif name == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    content_length = None  # the HTTP server already refuses malformed lengths
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        return request_id or uuid.uuid4().hex, content_length, chunked

    async def _buffer_chunked(self, receive: Receive) -> Receive:
        """Read a chunked body up to the cap, then hand the app a receive that replays it."""
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
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


def _method_label(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in KNOWN_METHODS else "OTHER"


def _escaped(raw: str) -> str:
    """A client-controlled string made safe for one log line: quoted, escaped, cut short."""
    return json.dumps(raw[:RAW_PATH_LOG_CHARS])


def _short_detail(errors: Sequence[Any]) -> tuple[int, str]:
    """A status and one-line detail for validation errors, naming the field but never the input."""
    if not errors:
        return 422, "invalid request"
    first = errors[0]
    kind = first.get("type")
    if kind == "json_invalid":
        return 400, "body is not valid JSON"
    loc = [str(p) for p in first.get("loc", ()) if p in ("id", "text") or isinstance(p, int)]
    where = ".".join(["body", *loc])
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return 422, f"{where}: expected a JSON object with string fields id and text"
    message = str(first.get("msg", "invalid value"))[:DETAIL_MAX_CHARS]
    return 422, f"{where}: {message}"


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_predict_body(request: Request) -> PredictRequest:
    """Parse and validate the body in one pass of pydantic-core.

    FastAPI's own body machinery (json.loads, then validation, then dependency solving) cost
    more than the model itself; this keeps its behaviour (415/400/422) at a fraction of the time.
    """
    if not _is_json(request.headers.get("content-type")):
        raise HTTPException(415, "send the body as Content-Type: application/json")
    raw = await request.body()
    try:
        return PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        status, detail = _short_detail(exc.errors(include_input=False, include_url=False))
        raise HTTPException(status, detail) from None


def _bearer_dependency(expected: str) -> Callable[..., Awaitable[None]]:
    """A dependency demanding ``Authorization: Bearer <expected>``; it also declares the scheme in OpenAPI."""
    expected_bytes = expected.encode()

    async def require_token(credentials: BearerCredentials) -> None:
        token = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(token, expected_bytes):
            raise HTTPException(
                401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return require_token


def create_app(settings: Settings) -> FastAPI:
    """The service for ``settings``; ModelMissingError (how to train one) when no model is found."""
    model = load_model(settings.service_model_dir)
    max_text_chars = settings.service_max_text_chars
    metrics = ServiceMetrics(model.version)
    ring = traffic_ring(settings, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if ring is not None:
            ring.start()
        try:
            yield
        finally:
            if ring is not None:
                await run_in_threadpool(ring.stop)

    app = FastAPI(
        title="clfwatch reference classifier",
        version=model.version,
        description="Probability that a chat message was written by a bot.",
        redirect_slashes=False,  # "/predict/" is an unknown path (404), not a redirect
        lifespan=lifespan,
    )
    app.state.model = model
    app.state.metrics = metrics
    app.state.traffic_ring = ring
    predict_dependencies = []
    if settings.service_api_key is not None:
        predict_dependencies.append(Depends(_bearer_dependency(settings.service_api_key.get_secret_value())))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail = _short_detail(exc.errors())
        return JSONResponse({"detail": detail}, status_code=status)

    @app.post("/predict", response_model=PredictResponse, responses=ERROR_RESPONSES,
              dependencies=predict_dependencies, openapi_extra=PREDICT_OPENAPI)
    async def predict(request: Request) -> Response:
        body = await read_predict_body(request)
        if len(body.text) > max_text_chars:
            raise HTTPException(413, f"text over {max_text_chars} characters")
        served: LoadedModel = request.app.state.model
        if len(body.text) <= INLINE_PREDICT_MAX_CHARS:
            probability = served.probability(body.text)
        else:
            probability = await run_in_threadpool(served.probability, body.text)
        if ring is not None:
            ring.offer(body.text)  # the text only: never the id, a token or a header
        return _json_response({"id": body.id, "probability": probability})

    @app.get("/health", response_model=HealthResponse, responses={500: ERROR_RESPONSES[500]})
    async def health(request: Request) -> Response:
        version = request.app.state.model.version
        return _json_response({"status": "ok", "model_version": version})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    route_paths = frozenset(getattr(r, "path", "") for r in app.routes) - {""}
    app.add_middleware(ServiceMiddleware, max_body_bytes=settings.service_max_body_bytes, metrics=metrics,
                       route_paths=route_paths)
    return app


def traffic_ring(settings: Settings, metrics: ServiceMetrics) -> TrafficRing | None:
    """The ring of the last CLFWATCH_SERVICE_TRAFFIC_SAMPLE texts; None when that is 0."""
    if settings.service_traffic_sample == 0:
        return None
    return TrafficRing(settings.database_url, keep=settings.service_traffic_sample,
                       dropped=metrics.traffic_dropped, written=metrics.traffic_written)


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (several workers): settings and logging from the environment."""
    from core.logs import setup_logging
    from core.settings import get_settings

    settings = get_settings()
    setup_logging(settings.log_level)
    app = create_app(settings)
    gc.freeze()  # the model's long-lived objects leave the collector's scans: no GC pauses
    return app
