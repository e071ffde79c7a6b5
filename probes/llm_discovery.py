"""Registering an openai-chat target: its model read from ``GET /v1/models`` when none is given.

The CLI, the team API (and so the Register page) and the admin page register openai-chat targets;
all three ask the service for its model list the same way, here, and refuse with the same one-line
reasons: the server is unreachable, it refused the key, its answer is not a model list, the list is
empty. Each reason ends with the fix, in the words of the caller's surface (``--model M`` on the
command line, the ``model`` field in the API).

A team's registration may only lead where ``CLFWATCH_SELF_SERVICE_NETWORKS`` allows (the same
guard as its probes): the request then connects to the very address that was checked (no second
DNS lookup to rebind), keeps the host name for ``Host`` and TLS, and follows no redirect.
The key goes out in the ``Authorization`` header only, and no message here ever holds it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from core.contract import OPENAI_MODELS_PATH, TargetKind
from core.errors import ClfwatchError
from core.netguard import AddressRefused, AllowedNetworks, check_url, resolve_allowed_sync

# A model list is small: a few hundred bytes per model. A server that sends more is not one.
MODELS_MAX_BYTES = 256 * 1024
# Registration waits for this answer: short, yet enough for a server that is busy generating.
DISCOVERY_TIMEOUT_S = 5.0
# Model ids shown when a server lists several (the first is taken).
MODELS_SHOWN = 10
# How each surface asks for an explicit model: the fix every refusal ends with.
FIX_CLI = "give the model with --model M"
FIX_API = 'give the model in the "model" field'
FIX_PAGE = "fill in the Model field"  # the admin and Register pages


class DiscoveryError(ClfwatchError, ValueError):
    """The model could not be read from the service; ``str()`` names the cause and the fix."""


class TokenRequired(ClfwatchError, ValueError):
    """An openai-chat target registered without the key its service demands."""


class BaseUrlEndsInV1(ClfwatchError, ValueError):
    """The base URL of an openai-chat target ends in ``/v1``: the paths would say ``/v1/v1/...``."""


def check_base_url(base_url: str) -> None:
    """BaseUrlEndsInV1 for ``http://host:38300/v1``: the openai client's habit, not ours.

    The openai client's ``base_url`` ends in ``/v1``; clfwatch's ends before it (the paths carry
    ``/v1``). Refused rather than stored, since every probe would ask ``/v1/v1/chat/completions``.
    """
    if base_url.rstrip("/").lower().endswith("/v1"):
        raise BaseUrlEndsInV1(
            "the base URL ends in /v1, which clfwatch adds itself (/v1/chat/completions, "
            "/v1/models); give the URL without the trailing /v1"
        )


@dataclass(frozen=True)
class DiscoveredModel:
    """The model a registration takes and every model the server listed, in its order."""

    model: str
    listed: tuple[str, ...]

    def note(self) -> str | None:
        """One line naming the other models when the server listed several; None for one."""
        if len(self.listed) < 2:
            return None
        shown = ", ".join(self.listed[:MODELS_SHOWN])
        more = f" and {len(self.listed) - MODELS_SHOWN} more" if len(self.listed) > MODELS_SHOWN else ""
        return (
            f"the server lists {len(self.listed)} models ({shown}{more}); took the first, {self.model}"
        )


def require_token(kind: str, token: str | None, *, flag: str = "--token KEY") -> None:
    """TokenRequired for an openai-chat target without a key: the course's services demand one."""
    if kind == TargetKind.OPENAI_CHAT and not (token or "").strip():
        raise TokenRequired(
            "an openai-chat target needs the bearer key its service demands (the course requires "
            f"one, e.g. cu_prodml_hw_week13): give it with {flag}"
        )


class _PinnedBackend(httpcore.SyncBackend):
    """Connects only to an address inside the allowed networks, the one that was checked."""

    def __init__(self, networks: AllowedNetworks) -> None:
        self._networks = networks

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            address = resolve_allowed_sync(host, port, self._networks)[0]
        except (OSError, UnicodeError):  # the name stopped resolving since it was checked
            raise httpcore.ConnectError("host name does not resolve") from None
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


class _Transport(httpx.HTTPTransport):
    """httpx's transport, with the pinned backend for a self-registered target."""

    def __init__(self, networks: AllowedNetworks | None) -> None:
        super().__init__(trust_env=False, retries=0)
        if networks is not None:
            # httpx takes no network backend; its pool does. Same pool, one backend swapped in.
            self._pool = httpcore.ConnectionPool(
                ssl_context=httpx.create_ssl_context(), max_connections=1, retries=0,
                network_backend=_PinnedBackend(networks),
            )


def models_url(base_url: str) -> str:
    return base_url.rstrip("/") + OPENAI_MODELS_PATH


def discover_model(
    base_url: str,
    token: str | None,
    *,
    fix: str = FIX_CLI,
    networks: AllowedNetworks | None = None,
    timeout_s: float = DISCOVERY_TIMEOUT_S,
    name_url: bool = True,
) -> DiscoveredModel:
    """The first model of ``GET {base_url}/v1/models``, asked with ``token``; DiscoveryError else.

    ``networks``: a team's registration, held to the self-service networks (None: the operator's,
    not limited). ``name_url=False``: the reasons say "your service's /v1/models" instead of the
    URL (the team API never echoes what was sent). Blocking; call it from a thread in async code.
    """
    url = models_url(base_url)
    where = url if name_url else f"your service's {OPENAI_MODELS_PATH}"
    lead = f"cannot read the model list from {where}"
    if networks is not None:
        try:
            check_url(url, networks)
        except AddressRefused as exc:
            raise DiscoveryError(f"{lead}: {exc}") from None
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # The transport itself, not a Client: one request, no redirects, no cookies, and no INFO log
    # line per request (httpx's Client logs each one; the CLI's stderr must stay one line).
    request = httpx.Request("GET", url, headers=headers,
                            extensions={"timeout": httpx.Timeout(timeout_s).as_dict()})
    deadline = time.monotonic() + timeout_s
    try:
        with _Transport(networks) as transport:
            answer = transport.handle_request(request)
            try:
                body = _read_capped(answer, deadline)
            finally:
                answer.close()
            status = answer.status_code
    except AddressRefused as exc:
        raise DiscoveryError(f"{lead}: {exc}") from None
    except httpx.TimeoutException:
        raise DiscoveryError(
            f"{lead}: no answer within {timeout_s:g} s; check that the server is up, or {fix}"
        ) from None
    except httpx.HTTPError as exc:
        raise DiscoveryError(
            f"{lead}: the server is unreachable ({_transport_reason(exc)}); check the URL and that "
            f"the server is running, or {fix}"
        ) from None
    except _TooLarge:
        raise DiscoveryError(
            f"{lead}: the answer is over {MODELS_MAX_BYTES // 1024} kB, not a model list; check the "
            f"URL, or {fix}"
        ) from None
    if status in (401, 403):
        raise DiscoveryError(
            f"{lead}: the server refused the key (HTTP {status}); check the key you gave, or {fix}"
        )
    if status != 200:
        where = f" (redirected to {answer.headers.get('location', '?')[:200]})" if 300 <= status < 400 else ""
        raise DiscoveryError(
            f"{lead}: HTTP {status}{where}; check the base URL (without /v1), or {fix}"
        )
    return DiscoveredModel(*_first_model(body, lead, fix))


class _TooLarge(Exception):
    pass


def _read_capped(answer: httpx.Response, deadline: float) -> bytes:
    """The body up to the cap; a server that drips it past the deadline is a timeout too."""
    chunks: list[bytes] = []
    total = 0
    for chunk in answer.iter_bytes():
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the model list took too long")
        total += len(chunk)
        if total > MODELS_MAX_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_reason(exc: httpx.HTTPError) -> str:
    """A short cause for a transport failure: never the request, so never its headers."""
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "not an HTTP answer"
    return type(exc).__name__


def _first_model(body: bytes, lead: str, fix: str) -> tuple[str, tuple[str, ...]]:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DiscoveryError(
            f"{lead}: the answer is not JSON; check the base URL points at an OpenAI-compatible "
            f"server, or {fix}"
        ) from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise DiscoveryError(
            f'{lead}: the answer has no "data" list of models; check the base URL points at an '
            f"OpenAI-compatible server, or {fix}"
        )
    ids = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]]
    if not data:
        raise DiscoveryError(f"{lead}: the server lists no model (empty data); load one, or {fix}")
    if len(ids) != len(data):
        raise DiscoveryError(f'{lead}: a listed model has no "id"; {fix}')
    return ids[0], tuple(ids)
