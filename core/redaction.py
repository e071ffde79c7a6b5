"""Keeping credentials out of evidence: one place for every page, log line and stored excerpt.

Stress evidence, curl lines, the dashboard's stress pages and the failed answers kept for a
team's own page can all carry what a target or a team sent: bearer tokens, cookies, API keys.
Every part that shows such text passes it through here first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "<token>"  # what a known token or a bearer credential becomes in text
REDACTED_AUTH = "Bearer $CLFWATCH_TOKEN"  # the Authorization header, as a variable the reader fills in
REDACTED_VALUE = "***"  # any other credential header
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
# "Bearer <credential>" anywhere in a text; "Bearer $VAR" (our own placeholder) is left alone.
BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)(?!\$)[A-Za-z0-9._~+/=-]+")
MIN_TOKEN_CHARS = 4  # shorter "tokens" would blank out ordinary words


def redact_headers(
    headers: Iterable[tuple[str, str]], auth_placeholder: str = REDACTED_AUTH
) -> list[tuple[str, str]]:
    """Headers safe to print: the token becomes a variable, other credentials stars.

    ``auth_placeholder`` is what the Authorization header shows (the LLM suite names its key
    ``$KEY``, as the course's instructions do).
    """
    out = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "authorization":
            value = auth_placeholder
        elif lowered in SENSITIVE_HEADERS:
            value = REDACTED_VALUE
        out.append((name, value))
    return out


def redact_text(text: str, tokens: Iterable[str | None] = ()) -> str:
    """``text`` with every known token and every bearer credential replaced by ``REDACTED``."""
    for token in tokens:
        if token and len(token) >= MIN_TOKEN_CHARS:
            text = text.replace(token, REDACTED)
    return BEARER_PATTERN.sub(lambda m: m.group(1) + REDACTED, text)


def redact_evidence(evidence: Any, tokens: Iterable[str | None] = ()) -> Any:
    """A JSON-like value with every token replaced: a round trip through JSON text reaches every
    string, keys included; a token is also matched in its JSON-escaped form."""
    text = json.dumps(evidence, ensure_ascii=False, default=str)
    escaped = [json.dumps(t, ensure_ascii=False)[1:-1] for t in tokens if t and len(t) >= MIN_TOKEN_CHARS]
    return json.loads(redact_text(text, escaped))
