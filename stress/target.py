"""What a stress run needs to know about the service it hits: paths, body shape, token.

A registered target may use another request shape than the contract's (a JSON template with
``{text}`` and ``{id}`` placeholders) and another place for the probability (a JSON pointer);
every scenario builds its bodies and reads its answers through this one object, so a custom
shape is stressed exactly like the contract's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core.contract import find_pointer, valid_probability

DEFAULT_PREDICT_PATH = "/predict"
DEFAULT_HEALTH_PATH = "/health"
DEFAULT_POINTER = "/probability"
DEFAULT_TEMPLATE = '{"id": "{id}", "text": "{text}"}'
TEXT_SLOT = "{text}"
ID_SLOT = "{id}"
DROP = object()  # a value for ``body_with`` meaning "leave this field out"


@dataclass(frozen=True)
class TargetSpec:
    base_url: str  # scheme://host:port, no trailing slash
    name: str | None = None  # registered name, None for a bare loopback URL
    target_id: int | None = None
    predict_path: str = DEFAULT_PREDICT_PATH
    health_path: str = DEFAULT_HEALTH_PATH
    template: str | None = None  # None: the contract's {"id", "text"} body
    probability_pointer: str = DEFAULT_POINTER
    token: str | None = field(default=None, repr=False)  # bearer token; never printed

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def host_header(self) -> str:
        """``host:port`` as a Host header wants it (IPv6 in brackets), without credentials."""
        return urlsplit(self.base_url).netloc.rpartition("@")[2]

    def raw_path(self, path: str) -> str:
        """``path`` under the base URL's own path prefix, for requests written by hand."""
        return urlsplit(self.base_url).path.rstrip("/") + path

    @property
    def is_https(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"

    @property
    def uses_contract_body(self) -> bool:
        return self.template is None

    def url(self, path: str) -> str:
        return self.base_url + path

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def body_with(self, text: Any, id_value: Any = "stress-0", extra: dict[str, Any] | None = None) -> Any:
        """The request document with ``text`` and ``id`` put in their slots (any JSON value).

        ``DROP`` for either leaves the field out; ``extra`` adds top-level fields (when the
        document is an object).
        """
        document = json.loads(_sentinel_template(self.template or DEFAULT_TEMPLATE))
        filled = _fill(document, text, id_value)
        if extra and isinstance(filled, dict):
            filled.update(extra)
        return filled

    def body(self, text: str, id_value: str = "stress-0") -> bytes:
        """A valid request body for ``text``, as UTF-8 JSON bytes."""
        return json.dumps(self.body_with(text, id_value), ensure_ascii=False).encode("utf-8")

    def probability_of(self, document: Any) -> Any:
        """The value at the probability pointer, or None when the path does not exist."""
        return find_pointer(document, self.probability_pointer)


_TEXT_SENTINEL = "\x00clfwatch-text\x00"
_ID_SENTINEL = "\x00clfwatch-id\x00"


def _sentinel_template(template: str) -> str:
    escaped_text = json.dumps(_TEXT_SENTINEL)[1:-1]
    escaped_id = json.dumps(_ID_SENTINEL)[1:-1]
    return template.replace(TEXT_SLOT, escaped_text).replace(ID_SLOT, escaped_id)


def _fill(node: Any, text: Any, id_value: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            filled = _fill(value, text, id_value)
            if filled is not DROP:
                out[key] = filled
        return out
    if isinstance(node, list):
        return [v for v in (_fill(item, text, id_value) for item in node) if v is not DROP]
    if isinstance(node, str):
        if node == _TEXT_SENTINEL:
            return text
        if node == _ID_SENTINEL:
            return id_value
        if _TEXT_SENTINEL in node or _ID_SENTINEL in node:  # placeholder inside a longer string
            return node.replace(_TEXT_SENTINEL, _as_string(text)).replace(_ID_SENTINEL, _as_string(id_value))
    return node


def _as_string(value: Any) -> str:
    if value is DROP:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def predict_body_problem(spec: TargetSpec, body: bytes, sent_id: Any) -> str | None:
    """Why a 200 answer to a predict request is not a valid answer, or None when it is."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "200 but the body is not JSON"
    probability = spec.probability_of(document)
    if probability is None:
        return f"200 but no probability at {spec.probability_pointer!r}"
    if not valid_probability(probability):
        return f"200 but probability {str(probability)[:40]!r} is not a number in [0, 1]"
    if spec.uses_contract_body and isinstance(sent_id, str):
        got = document.get("id") if isinstance(document, dict) else None
        if got != sent_id:
            return f"200 but id {str(got)[:40]!r} is not the id sent ({sent_id[:40]!r})"
    return None
