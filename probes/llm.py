"""Probes of openai-chat targets: a streamed chat completion, health, and key enforcement.

The same connection policy as a classifier's probes (``probes.wire``: one connection per probe,
``Connection: close``, the whole exchange under one timeout), with the answer read as it streams:
each piece of the body goes to ``core.llm_contract``'s ``SseParser`` and ``StreamCheck`` with the
time its bytes arrived, so time to first token (TTFT) and inter-token latency are measured on the
bytes, not after the end. All times are ``time.perf_counter`` from the start of the connect, the
origin of ``latency_ms``: TTFT includes ``connect_ms``, as a client's TTFT would.

Key enforcement (``check_key_enforcement``) sends a small non-streamed request without a key and
one with a fixed wrong key; each must be refused with 401 or 403. Its ``auth`` rows are a
security finding, never a measurement: storage counts them in no uptime, 200-rate or latency, and
they open no incident.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from core.contract import OPENAI_MODELS_PATH, Outcome, ProbeKind, Verdict, status_reason
from core.llm_contract import (
    DEFAULT_MAX_TOKENS,
    SseParser,
    StreamCheck,
    StreamVerdict,
    chat_body,
    first_problem,
    models_health_problem,
    pick_prompt,
)
from core.netguard import AllowedNetworks
from core.redaction import redact_text
from probes.outcome import decide_outcome
from probes.probe import USER_AGENT, body_excerpt, default_ssl_context, pin_allowed_address
from probes.request import Exchange
from probes.wire import DETAIL_BAD_URL, BadURL, BodyListener, WireRequest, wire_request
from probes.wire import exchange as send_exchange
from storage.probes import ProbeRow
from storage.targets import ProbeTarget

# A chat probe asks for a few tokens: enough to time the first and the ones after it, cheap for
# the team's GPU (one probe per target every interval).
CHAT_PROBE_MAX_TOKENS = DEFAULT_MAX_TOKENS
# A key-enforcement request only has to be refused: one token if it is not.
AUTH_PROBE_MAX_TOKENS = 1
# Sent as the wrong key: obviously not a real key, and never the target's own. Shaped like an
# OpenAI key ("sk-"), so a server that checks a key's format before looking it up (LiteLLM)
# looks it up and refuses it for being wrong, not for being malformed.
WRONG_KEY = "sk-clfwatch-wrong-key-not-a-real-key"
# Asked for when a target has no model on record (it cannot happen for a registered target;
# a server that routes by model then answers 4xx, which the row shows).
FALLBACK_MODEL = "clfwatch-probe"
CHAT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "text/event-stream",
    "Accept-Encoding": "identity",
    "Connection": "close",
    "Content-Type": "application/json",
}
JSON_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Accept-Encoding": "identity",
    "Connection": "close",
}
AUTH_HEADERS = {**JSON_HEADERS, "Content-Type": "application/json"}
AUTH_REFUSED = frozenset({401, 403})
DETAIL_STALLED = "stream did not end within the timeout"
# With no health path the models list is the health probe: a 200 there must be JSON.
REASON_MODELS_NOT_JSON = "{} at GET /v1/models: with no health path, the models list must answer JSON"

NO_KEY = "no_key"
BAD_KEY = "wrong_key"
# What each key-enforcement request is, in a row's detail: ok, not enforced, other status.
AUTH_WORDING = {
    NO_KEY: ("refused a request without a key", "accepted a request without a key",
             "a request without a key"),
    BAD_KEY: ("refused a wrong key", "accepted a wrong key", "a request with a wrong key"),
}
AUTH_FIX = "it must answer 401 or 403 unless the request carries the service's key"


@dataclass(frozen=True)
class _Sent:
    """What one request of ours gave back, and where its times start."""

    exchange: Exchange
    started_s: float  # perf_counter just before the connect


def chat_request(
    target: ProbeTarget, prompt: str, *, stream: bool, key: str | None, max_tokens: int
) -> WireRequest:
    """A chat completion request to ``target``; ``key`` goes in the Authorization header only."""
    headers = dict(CHAT_HEADERS if stream else AUTH_HEADERS)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = chat_body(
        model=target.model or FALLBACK_MODEL, prompt=prompt, max_tokens=max_tokens, stream=stream
    )
    return wire_request("POST", target.base_url + target.predict_path, headers, body)


def health_request(target: ProbeTarget) -> WireRequest:
    """The health path with "any 200" semantics, or ``GET /v1/models`` with the key when it has none."""
    headers = dict(JSON_HEADERS)
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    path = target.health_path or OPENAI_MODELS_PATH
    return wire_request("GET", target.base_url + path, headers)


async def _send(
    target: ProbeTarget,
    build: Callable[[], WireRequest],
    *,
    timeout_s: float,
    cap_bytes: int,
    networks: AllowedNetworks | None,
    ssl_context: ssl.SSLContext | None,
    on_body: BodyListener | None = None,
) -> _Sent:
    """Build and send one request on a connection of its own; a bad URL or address is an Exchange."""
    try:
        request = build()
    except (BadURL, UnicodeError):
        return _Sent(Exchange(None, None, None, Outcome.CONNECT_ERROR, DETAIL_BAD_URL), time.perf_counter())
    refused, connect_to = None, None
    if target.self_service and networks is not None:
        refused, connect_to = await pin_allowed_address(request, networks, timeout_s=timeout_s)
    if refused is not None:
        return _Sent(refused, time.perf_counter())
    context = ssl_context or default_ssl_context()  # built once, 0.1-0.3 s: before the clock starts
    started_s = time.perf_counter()
    exchange = await send_exchange(
        request, timeout_s=timeout_s, cap_bytes=cap_bytes, ssl_context=context, connect_to=connect_to,
        on_body=on_body,
    )
    return _Sent(exchange, started_s)


def _transport_verdict(exchange: Exchange) -> Verdict | None:
    """The verdict of an exchange that gave no judgeable 200 (transport failure or other status)."""
    if exchange.error is None and exchange.status_code == 200:
        return None
    return decide_outcome(
        kind=ProbeKind.HEALTH, status_code=exchange.status_code, body=exchange.body,
        error=exchange.error, error_detail=exchange.error_detail, health_path="",
    )


def health_verdict_llm(exchange: Exchange, *, models_list: bool) -> Verdict:
    """A health path: any 200 is up. ``GET /v1/models`` (no health path): a 200 with a JSON body."""
    verdict = _transport_verdict(exchange)
    if verdict is not None:
        return verdict
    if models_list:
        problem = models_health_problem(exchange.body or b"")
        if problem is not None:
            return Verdict(Outcome.BAD_BODY, REASON_MODELS_NOT_JSON.format(problem))
    return Verdict(Outcome.OK)


def chat_verdict(exchange: Exchange, stream: StreamVerdict | None) -> Verdict:
    """A streamed answer is ok when it came whole with a 200 and ``StreamCheck`` found no problem.

    ``stream`` is None when no event arrived and the answer was no 200.
    """
    if exchange.error == Outcome.TIMEOUT and stream is not None:
        return Verdict(Outcome.TIMEOUT, DETAIL_STALLED)  # it started, then stalled
    verdict = _transport_verdict(exchange)
    if verdict is not None:
        return verdict
    assert stream is not None
    problem = first_problem(stream.problems)
    if problem is not None:
        return Verdict(Outcome.BAD_BODY, problem)
    return Verdict(Outcome.OK)


def _row(
    target: ProbeTarget, kind: str, started_at: datetime, exchange: Exchange, verdict: Verdict,
) -> ProbeRow:
    """A row of an openai-chat probe; the target's key is redacted out of any text from the server."""
    failed_answer = verdict.outcome != Outcome.OK and exchange.body is not None
    token = target.token
    return ProbeRow(
        probe_uid=str(uuid.uuid4()),
        target_id=target.id,
        kind=str(kind),
        started_at=started_at,
        outcome=str(verdict.outcome),
        status_code=exchange.status_code,
        latency_ms=exchange.latency_ms,
        connect_ms=exchange.connect_ms,
        detail=redact_text(verdict.detail, [token]) if verdict.detail and token else verdict.detail,
        body_excerpt=(
            body_excerpt(exchange.body, token) if failed_answer and exchange.body is not None else None
        ),
    )


async def probe_llm_health(
    target: ProbeTarget,
    *,
    timeout_s: float,
    cap_bytes: int,
    networks: AllowedNetworks | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> ProbeRow:
    """One health probe of an openai-chat target; never raises for the target."""
    started_at = datetime.now(UTC)
    sent = await _send(
        target, lambda: health_request(target), timeout_s=timeout_s, cap_bytes=cap_bytes,
        networks=networks, ssl_context=ssl_context,
    )
    verdict = health_verdict_llm(sent.exchange, models_list=not target.health_path)
    return _row(target, ProbeKind.HEALTH, started_at, sent.exchange, verdict)


async def probe_chat(
    target: ProbeTarget,
    *,
    slot: int,
    timeout_s: float,
    cap_bytes: int,
    networks: AllowedNetworks | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> ProbeRow:
    """One streamed chat completion of ``target`` (prompt by slot), read and judged as it arrives.

    Never raises for the target. A stream that stalls ends at the timeout as ``timeout`` with the
    TTFT it reached; one cut mid-way is ``protocol_error``; one that ends without ``[DONE]`` or
    with a malformed chunk is ``bad_body`` naming the first problem.
    """
    started_at = datetime.now(UTC)
    parser = SseParser()
    check = StreamCheck()
    events = [0]

    def on_body(data: bytes, at_s: float) -> None:
        for event in parser.feed(data):
            events[0] += 1
            check.add(event, at_s)

    prompt = pick_prompt(target.id, slot)
    sent = await _send(
        target,
        lambda: chat_request(
            target, prompt, stream=True, key=target.token, max_tokens=CHAT_PROBE_MAX_TOKENS
        ),
        timeout_s=timeout_s, cap_bytes=cap_bytes, networks=networks, ssl_context=ssl_context,
        on_body=on_body,
    )
    exchange = sent.exchange
    started_s = exchange.started_s if exchange.started_s is not None else sent.started_s
    if exchange.error is None:
        for event in parser.close():  # a last event the body ended without a line end for
            events[0] += 1
            check.add(event, time.perf_counter())
    stream: StreamVerdict | None = None
    if exchange.status_code == 200 or events[0]:
        ended_s = (
            started_s + exchange.latency_ms / 1000.0
            if exchange.latency_ms is not None
            else time.perf_counter()
        )
        stream = check.finish(started_s, ended_s)
    verdict = chat_verdict(exchange, stream)
    row = _row(target, ProbeKind.CHAT, started_at, exchange, verdict)
    if stream is None:
        return row
    complete = exchange.error is None and exchange.status_code == 200
    return _with_stream(row, stream, complete=complete)


def _with_stream(row: ProbeRow, stream: StreamVerdict, *, complete: bool) -> ProbeRow:
    """The stream's measures on the row: all of them for a whole stream, TTFT alone for a cut one."""
    if not complete:
        return replace(row, ttft_ms=_ms(stream.ttft_ms))
    return replace(
        row,
        ttft_ms=_ms(stream.ttft_ms),
        itl_ms=_ms(stream.itl_ms),
        tokens_per_s=None if stream.tokens_per_s is None else round(stream.tokens_per_s, 3),
        output_tokens=stream.output_tokens,
        tokens_source=stream.tokens_source,
    )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def check_key_enforcement(
    target: ProbeTarget,
    *,
    timeout_s: float,
    cap_bytes: int = 64 * 1024,
    networks: AllowedNetworks | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> list[ProbeRow]:
    """Ask ``target`` without a key and with a wrong key; one ``auth`` row per request.

    Each must get 401 or 403 (outcome ``ok``); a 200 is ``auth_not_enforced`` ("accepted a request
    without a key" / "accepted a wrong key"); any other status is ``http_error`` naming it;
    transport failures keep their outcomes. The target's own key is never sent; rows and their
    excerpts never hold it. Never raises for the target.
    """
    wrong = WRONG_KEY if target.token != WRONG_KEY else WRONG_KEY + "-x"
    prompt = pick_prompt(target.id, 0)

    async def one(which: str, key: str | None) -> ProbeRow:
        started_at = datetime.now(UTC)
        sent = await _send(
            target,
            lambda: chat_request(target, prompt, stream=False, key=key, max_tokens=AUTH_PROBE_MAX_TOKENS),
            timeout_s=timeout_s, cap_bytes=cap_bytes, networks=networks, ssl_context=ssl_context,
        )
        return _row(target, ProbeKind.AUTH, started_at, sent.exchange, auth_verdict(which, sent.exchange))

    return list(await asyncio.gather(one(NO_KEY, None), one(BAD_KEY, wrong)))


def auth_verdict(which: str, exchange: Exchange) -> Verdict:
    """The verdict on one key-enforcement request (``which``: ``NO_KEY`` or ``BAD_KEY``)."""
    refused, accepted, request = AUTH_WORDING[which]
    status = exchange.status_code
    if exchange.error is not None and exchange.error != Outcome.TOO_LARGE:
        verdict = decide_outcome(
            kind=ProbeKind.HEALTH, status_code=status, body=None,
            error=exchange.error, error_detail=exchange.error_detail, health_path="",
        )
        return Verdict(verdict.outcome, f"{request}: {verdict.detail}")
    if status in AUTH_REFUSED:
        return Verdict(Outcome.OK, f"{refused} ({status})")
    if status == 200:
        return Verdict(Outcome.AUTH_NOT_ENFORCED, f"{accepted}: {AUTH_FIX}")
    assert status is not None
    return Verdict(Outcome.HTTP_ERROR, f"{status_reason(status)} to {request}: {AUTH_FIX}")


__all__ = [
    "WRONG_KEY",
    "check_key_enforcement",
    "probe_chat",
    "probe_llm_health",
]
