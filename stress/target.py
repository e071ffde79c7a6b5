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

from core.contract import (
    CONTRACT_HEALTH_PATH,
    CONTRACT_POINTER,
    CONTRACT_PREDICT_PATH,
    DROP,
    TargetKind,
    Verdict,
    health_verdict,
    parse_template,
    predict_verdict,
    render_document,
)
from core.redaction import REDACTED_AUTH

__all__ = ["DROP", "TargetSpec"]


@dataclass(frozen=True)
class TargetSpec:
    base_url: str  # scheme://host:port, no trailing slash
    name: str | None = None  # registered name, None for a bare loopback URL
    target_id: int | None = None
    predict_path: str = CONTRACT_PREDICT_PATH
    health_path: str = CONTRACT_HEALTH_PATH
    template: str | None = None  # None: the contract's {"id", "text"} body
    probability_pointer: str = CONTRACT_POINTER
    token: str | None = field(default=None, repr=False)  # bearer token; never printed
    kind: str = TargetKind.CLASSIFIER  # core.contract.TargetKind: which suite fits it
    model: str | None = None  # openai-chat: the model every chat request names
    # what evidence and curl lines show for the Authorization header (a shell variable)
    auth_placeholder: str = REDACTED_AUTH

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
        document is an object). The rendering is the contract's, the prober's too.
        """
        return render_document(parse_template(self.template), text=text, sample_id=id_value, extra=extra)

    def body(self, text: str, id_value: str = "stress-0") -> bytes:
        """A valid request body for ``text``, as UTF-8 JSON bytes."""
        return json.dumps(self.body_with(text, id_value), ensure_ascii=False).encode("utf-8")

    def predict_verdict(self, status_code: int, body: bytes | None, sent_id: Any) -> Verdict:
        """The contract's verdict on an answer to a predict request that carried ``sent_id``.

        The id rule applies only to a string id sent in the contract's own body.
        """
        return predict_verdict(
            status_code,
            body,
            sent_id=sent_id if isinstance(sent_id, str) else None,
            pointer=self.probability_pointer,
            templated=not self.uses_contract_body,
        )

    def health_verdict(self, status_code: int, body: bytes | None) -> Verdict:
        """The contract's verdict on an answer to this target's health request."""
        return health_verdict(status_code, body, health_path=self.health_path)
