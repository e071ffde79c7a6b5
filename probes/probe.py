"""One probe of one target, from request to a plain ``ProbeRow``; never raises for the target."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from core.contract import Outcome, ProbeKind, render_body
from core.netguard import AddressRefused, AllowedNetworks, resolve_allowed
from core.redaction import redact_text
from probes.outcome import decide_outcome
from probes.request import Exchange, send_probe
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


def build_request(
    client: httpx.AsyncClient, prepared: PreparedTarget, kind: str, sample: EvalText | None
) -> httpx.Request:
    """The HTTP request of one probe; the bearer token goes in a header, nowhere else."""
    target = prepared.target
    headers = dict(PROBE_HEADERS)
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    if kind == ProbeKind.HEALTH:
        return client.build_request("GET", target.base_url + target.health_path, headers=headers)
    assert sample is not None
    headers["Content-Type"] = "application/json"
    body = render_body(prepared.parsed_template, text=sample.text, sample_id=sample.id)
    return client.build_request("POST", target.base_url + target.predict_path, headers=headers, content=body)


async def probe_target(
    client: httpx.AsyncClient,
    prepared: PreparedTarget,
    kind: str,
    *,
    sample: EvalText | None,
    timeout_s: float,
    cap_bytes: int,
    networks: AllowedNetworks | None = None,
) -> ProbeRow:
    """Send one health or predict probe and turn its answer into a row.

    ``networks`` is where a self-registered target may lead; its host is resolved and checked
    before every probe, since DNS can change after registration.
    """
    request = build_request(client, prepared, kind, sample)
    started_at = datetime.now(UTC)
    refused = None
    if prepared.target.self_service and networks is not None:
        refused = await pin_allowed_address(request, networks, timeout_s=timeout_s)
    exchange: Exchange = refused or await send_probe(
        client, request, timeout_s=timeout_s, cap_bytes=cap_bytes
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


async def pin_allowed_address(
    request: httpx.Request, networks: AllowedNetworks, *, timeout_s: float
) -> Exchange | None:
    """Point ``request`` at its host's checked address, or say why the probe is not sent.

    The request then connects to the very address that was checked (a second lookup could
    answer otherwise: DNS rebinding), keeps its ``Host`` header, and TLS still verifies the
    certificate for the host name (``sni_hostname``). The prober never follows redirects, so
    a redirect cannot lead anywhere either.
    """
    host = request.url.host
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await resolve_allowed(host, port, networks)
    except AddressRefused as exc:
        return Exchange(None, None, None, Outcome.REFUSED_ADDRESS, str(exc)[:200])
    except (OSError, TimeoutError, UnicodeError):
        return Exchange(None, None, None, Outcome.CONNECT_ERROR, "host name does not resolve")
    address = addresses[0]
    if address != host:
        request.url = request.url.copy_with(host=address)
        request.extensions = {**request.extensions, "sni_hostname": host}
    return None
