"""One probe of one target, from request to a plain ``ProbeRow``; never raises for the target."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.contract import Outcome, ProbeKind, render_body
from core.netguard import AddressRefused, AllowedNetworks, resolve_allowed
from core.redaction import redact_text
from probes.outcome import decide_outcome
from probes.request import Exchange
from probes.wire import DETAIL_BAD_URL, BadURL, WireRequest, wire_request
from probes.wire import exchange as send_exchange
from storage.evalset import EvalText
from storage.models import BODY_EXCERPT_MAX_CHARS
from storage.probes import ProbeRow
from storage.targets import ProbeTarget

USER_AGENT = "clfwatch-prober"
# Every probe has a connection of its own, as blackbox_exporter's probes do: the target's
# server is told up front, so it frees the socket at once instead of waiting out its
# keep-alive timeout.
PROBE_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Accept-Encoding": "identity",
    "Connection": "close",
}
# Sent when no evaluation set is loaded, so latency and 200-rate are still measured.
CANARY_SAMPLE = EvalText(id="clfwatch-canary", text="Is this text written by a bot?")


@dataclass(frozen=True)
class PreparedTarget:
    """A target with its template parsed once, so each probe only fills it in."""

    target: ProbeTarget
    parsed_template: Any  # JSON value with placeholders, or None for the contract's body
    template_ok: bool = True


def build_request(prepared: PreparedTarget, kind: str, sample: EvalText | None) -> WireRequest:
    """The HTTP request of one probe; the bearer token goes in a header, nowhere else.

    BadURL for a URL the prober cannot send to.
    """
    target = prepared.target
    headers = dict(PROBE_HEADERS)
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    if kind == ProbeKind.HEALTH:
        return wire_request("GET", target.base_url + target.health_path, headers)
    assert sample is not None
    headers["Content-Type"] = "application/json"
    body = render_body(prepared.parsed_template, text=sample.text, sample_id=sample.id)
    return wire_request("POST", target.base_url + target.predict_path, headers, body)


async def probe_target(
    prepared: PreparedTarget,
    kind: str,
    *,
    sample: EvalText | None,
    timeout_s: float,
    cap_bytes: int,
    networks: AllowedNetworks | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> ProbeRow:
    """Send one health or predict probe, on a connection of its own, and turn its answer into a row.

    ``networks`` is where a self-registered target may lead; its host is resolved and checked
    before every probe, since DNS can change after registration.
    """
    started_at = datetime.now(UTC)
    exchange: Exchange
    try:
        request = build_request(prepared, kind, sample)
    except (BadURL, UnicodeError):
        exchange = Exchange(None, None, None, Outcome.CONNECT_ERROR, DETAIL_BAD_URL)
    else:
        refused, connect_to = None, None
        if prepared.target.self_service and networks is not None:
            refused, connect_to = await pin_allowed_address(request, networks, timeout_s=timeout_s)
        exchange = refused or await send_exchange(
            request, timeout_s=timeout_s, cap_bytes=cap_bytes,
            ssl_context=ssl_context or default_ssl_context(), connect_to=connect_to,
        )
    verdict = decide_outcome(
        kind=kind,
        status_code=exchange.status_code,
        body=exchange.body,
        error=exchange.error,
        error_detail=exchange.error_detail,
        expected_id=sample.id if sample is not None else None,
        pointer=prepared.target.probability_pointer,
        templated=prepared.parsed_template is not None,
        health_path=prepared.target.health_path,
    )
    is_eval = kind == ProbeKind.PREDICT and sample is not None and sample is not CANARY_SAMPLE
    failed_answer = verdict.outcome != Outcome.OK and exchange.body is not None
    return ProbeRow(
        probe_uid=str(uuid.uuid4()),
        target_id=prepared.target.id,
        kind=str(kind),
        started_at=started_at,
        outcome=str(verdict.outcome),
        status_code=exchange.status_code,
        latency_ms=exchange.latency_ms,
        connect_ms=exchange.connect_ms,
        detail=verdict.detail,
        sample_id=sample.id if is_eval and sample is not None else None,
        probability=verdict.probability,
        body_excerpt=(
            body_excerpt(exchange.body, prepared.target.token)
            if failed_answer and exchange.body is not None
            else None
        ),
    )


def body_excerpt(body: bytes, token: str | None = None) -> str:
    """The start of a failed answer as text, for the team's own page: what their server said.

    A server that echoes its request would hand the target's token back: it is redacted.
    """
    # A character is at most 4 bytes of UTF-8: enough text to cut after redacting.
    start = body[: 4 * BODY_EXCERPT_MAX_CHARS].decode("utf-8", errors="replace")
    return redact_text(start, [token])[:BODY_EXCERPT_MAX_CHARS]


def default_ssl_context() -> ssl.SSLContext:
    """The system's verifying TLS context, built once (loading the CA bundle takes 0.1-0.3 s)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


_SSL_CONTEXT: ssl.SSLContext | None = None


async def pin_allowed_address(
    request: WireRequest, networks: AllowedNetworks, *, timeout_s: float
) -> tuple[Exchange | None, str | None]:
    """The host's checked address to connect to, or why the probe is not sent.

    The probe then connects to the very address that was checked (a second lookup could answer
    otherwise: DNS rebinding), keeps its ``Host`` header, and TLS still verifies the certificate
    for the host name (SNI). The prober never follows redirects, so a redirect cannot lead
    anywhere either.
    """
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await resolve_allowed(request.host, request.port, networks)
    except AddressRefused as exc:
        return Exchange(None, None, None, Outcome.REFUSED_ADDRESS, str(exc)[:200]), None
    except (OSError, TimeoutError, UnicodeError):
        return Exchange(None, None, None, Outcome.CONNECT_ERROR, "host name does not resolve"), None
    return None, addresses[0]
