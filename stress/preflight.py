"""Before any scenario: does the target answer at all?

Without this check a port where nothing listens "runs" all ten scenarios for half a minute and
a load row reads "8898 requests" that were 8898 refusals. A few tries over a few seconds (the
health path, then the predict path) give a service that is just starting a chance; any HTTP
answer, whatever its status, counts as answering: judging it is the scenarios' job. When nothing
answers, the run stops with one line saying which URL and what happened (refused, timed out,
the name does not resolve), and no scenario is run.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from stress.client import send_httpx
from stress.evidence import SentRequest, describe_error, outcome_counts
from stress.target import TargetSpec

# The name of the one row a run stores when it stops here: not one of the ten scenarios, and
# never passed, so it adds no point; it carries the reason for the dashboard.
PREFLIGHT_ROW = "preflight"
PREFLIGHT_PAUSE_S = 1.0  # between rounds of tries
PREFLIGHT_REQUEST_TIMEOUT_S = 2.0  # one try waits at most this long (and never past the budget)
PREFLIGHT_MAX_ROUNDS = 20  # a count bound beside the time budget


@dataclass
class Preflight:
    """What the check saw: whether anything answered, and if not, the one-line reason."""

    answered: bool
    reason: str  # one line; empty when the target answered
    url: str
    duration_s: float
    status_counts: Counter[str] = field(default_factory=Counter)
    tries: list[dict[str, Any]] = field(default_factory=list)  # method, path, status or error

    @property
    def evidence(self) -> dict[str, Any]:
        """Stored as the ``preflight`` row's evidence when the run stops here."""
        return {
            "summary": self.reason,
            "url": self.url,
            "requests": sum(self.status_counts.values()),
            **outcome_counts(self.status_counts),
            "status_counts": dict(sorted(self.status_counts.items())),
            "tries": self.tries,
            "duration_s": round(self.duration_s, 2),
        }


def classifier_preflight_requests(spec: TargetSpec) -> list[SentRequest]:
    """The classifier suite's tries: the health path, then one predict."""
    return [
        SentRequest("GET", spec.url(spec.health_path), list(spec.auth_headers().items()), label="health"),
        SentRequest(
            "POST",
            spec.url(spec.predict_path),
            [("Content-Type", "application/json"), *spec.auth_headers().items()],
            body=spec.body("Is anybody there?", "preflight-0"),
            label="predict",
        ),
    ]


def check_target_answers(
    spec: TargetSpec, budget_s: float, requests: list[SentRequest] | None = None
) -> Preflight:
    """Try ``requests`` (default: health, then predict) in rounds until one gets any HTTP answer
    or ``budget_s`` is spent."""
    started = time.monotonic()
    deadline = started + budget_s
    counts: Counter[str] = Counter()
    tries: list[dict[str, Any]] = []
    dns_problem = _resolve_within(spec.host, max(0.1, budget_s))
    if dns_problem:
        counts["error:dns"] += 1
        tries.append({"method": "DNS", "path": spec.host, "error": "dns"})
        reason = f"{spec.base_url} cannot be reached: {dns_problem}; check the host name in the URL"
        return Preflight(False, reason, spec.base_url, time.monotonic() - started, counts, tries)
    if requests is None:
        requests = classifier_preflight_requests(spec)
    with httpx.Client(follow_redirects=False, verify=False) as client:  # noqa: S501 - a test client
        for _round in range(PREFLIGHT_MAX_ROUNDS):
            for request in requests:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    break
                answer = send_httpx(client, request, min(PREFLIGHT_REQUEST_TIMEOUT_S, remaining_s))
                counts[answer.status_key] += 1
                path = request.url[len(spec.base_url) :]
                tries.append({"method": request.method, "path": path, "status": answer.status,
                              "error": answer.error})
                if answer.status is not None:
                    return Preflight(True, "", spec.base_url, time.monotonic() - started, counts, tries)
            if time.monotonic() + PREFLIGHT_PAUSE_S >= deadline:
                break
            time.sleep(PREFLIGHT_PAUSE_S)
    duration_s = time.monotonic() - started
    kinds = list(dict.fromkeys(t["error"] for t in tries))  # in the order first seen
    what = " / ".join(describe_error(k) for k in kinds) or "no try fitted in the time budget"
    paths = " and ".join(dict.fromkeys(t["path"] for t in tries)) or spec.health_path
    reason = (
        f"{spec.base_url} does not answer: {what} ({len(tries)} tries of {paths} over {duration_s:.1f} s); "
        "start the service or check the URL and port"
    )
    return Preflight(False, reason, spec.base_url, duration_s, counts, tries)


def _resolve_within(host: str, timeout_s: float) -> str | None:
    """None when ``host`` resolves (or is an address); else why not. Bounded: a lookup can hang."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    outcome: dict[str, str | None] = {}

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None)
            outcome["error"] = None
        except OSError as exc:  # gaierror, and anything else the resolver raises
            outcome["error"] = f"the host name {host[:100]!r} does not resolve ({exc.strerror or exc})"

    thread = threading.Thread(target=lookup, name="preflight-dns", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "error" not in outcome:
        return f"the DNS lookup of {host[:100]!r} timed out after {timeout_s:g} s"
    return outcome["error"]
