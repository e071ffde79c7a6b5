"""The seven crafted-request scenarios as data: what each request sends and which answers pass.

A scenario is a list of ``Case`` rows built from the target's shape (``TargetSpec``); sending
them is ``stress.crafted``'s job and judging the answers ``stress.judging``'s. Nothing here
does I/O.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from stress.context import StressContext
from stress.target import DROP, TargetSpec

ACCEPT_4XX = "4xx"  # refused as a client error (a 3xx redirect counts as refused too)
ACCEPT_VALID = "valid200"  # 200 with a body that honours the contract
ACCEPT_2XX = "2xx"  # any 2xx (not a predict request)
ACCEPT_HEALTH = "health"  # 200, and {"status": "ok"} when the target uses the contract's shape
ACCEPT_501 = "501"  # RFC 9110: the answer to a method the server does not know
ACCEPT_CLOSED = "closed"  # connection closed without an answer: fine for bytes that are not HTTP

REFUSE = frozenset({ACCEPT_4XX})
REFUSE_OR_VALID = frozenset({ACCEPT_4XX, ACCEPT_VALID})
JSON_HEADERS = (("Content-Type", "application/json"),)
FORM_HEADERS = (("Content-Type", "application/x-www-form-urlencoded"),)
TEMPLATE_PRODUCT = "1787569"  # 1337 * 1337: seeing it means a template expression was evaluated
COMMAND_OUTPUT = "uid="  # `id` ran on the server


@dataclass(frozen=True)
class Case:
    label: str
    method: str = "POST"
    path: str | None = None  # None: the predict path; may carry a query string
    headers: tuple[tuple[str, str], ...] = JSON_HEADERS
    body: bytes | None = None
    body_shell: str | None = None  # a shell command printing the body (for the curl line)
    raw_head: bytes | None = None  # send these exact head bytes over a socket (not replayable by curl)
    via_raw: bool = False  # send over a socket (big uploads), though curl can replay it
    accept: frozenset[str] = REFUSE
    sent_id: Any = None  # the id in the body, checked against a 200's id
    echoes: tuple[str, ...] = ()  # strings we sent: seeing them again is an echo, not a leak
    forbidden: tuple[tuple[str, str], ...] = ()  # (text, why): must not appear in the answer
    timeout_s: float | None = None  # None: the request timeout bar
    with_token: bool = True  # False: sent without the target's key (key enforcement checks)
    # what evidence and curl show for the case's own Authorization header (a wrong key, or a
    # shell expression of the key); None: the target's placeholder
    auth_shown: str | None = None


SAMPLE_TEXTS = (
    "Hello! Could you tell me the opening hours of the library on Sunday?",
    "Привет, бот! Как дела? Расскажи, пожалуйста, анекдот.",
    "I am not a robot. I am a person writing a somewhat longer message to see how you cope. " * 4,
    "ok",
    "BUY NOW!!! Limited offer, click http://127.0.0.1/deal?id=42 before midnight",
    "Line one\nLine two\n\tindented line three",
    "12345 67890",
    "¿Dónde está la biblioteca? 你好，世界。",
)
SAMPLE_IDS = ("1", "contract-2", "7f9c2ba4-e88f-4c37-8c8b-3d1a4f8b9e01", "x" * 64)


def contract_cases(ctx: StressContext) -> list[Case]:
    spec = ctx.spec
    cases = [
        Case("health", method="GET", path=spec.health_path, headers=(), accept=frozenset({ACCEPT_HEALTH}))
    ]
    for i in range(ctx.bars.contract_requests):
        text = SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)]
        sent_id = SAMPLE_IDS[i % len(SAMPLE_IDS)] if i < len(SAMPLE_IDS) else f"contract-{i}"
        cases.append(
            Case(
                f"valid request #{i + 1}",
                body=spec.body(text, sent_id),
                accept=frozenset({ACCEPT_VALID}),
                sent_id=sent_id,
            )
        )
    return cases


def malformed_json_cases(ctx: StressContext) -> list[Case]:
    spec = ctx.spec
    valid = spec.body("a perfectly fine text", "m-0")
    rows: list[tuple[str, bytes, tuple[tuple[str, str], ...]]] = [
        ("truncated JSON", valid[: len(valid) // 2], JSON_HEADERS),
        ("trailing garbage after JSON", valid + b"}}]", JSON_HEADERS),
        ("single-quoted pseudo-JSON", valid.replace(b'"', b"'"), JSON_HEADERS),
        ("empty body", b"", JSON_HEADERS),
        ("whitespace-only body", b"  \n\t ", JSON_HEADERS),
        ("a bare word", b"hello", JSON_HEADERS),
        ("NaN literal", b'{"id": "m-7", "text": NaN}', JSON_HEADERS),
        ("bytes that are not UTF-8", b'{"id": "m-8", "text": "\xff\xfe\xfa\xc3\x28"}', JSON_HEADERS),
        (
            "Latin-1 declared as UTF-8",
            b'{"id": "m-9", "text": "caf\xe9 cr\xe8me"}',
            (("Content-Type", "application/json; charset=utf-8"),),
        ),
        ("XML instead of JSON", b"<predict><text>hi</text></predict>", JSON_HEADERS),
        ("form-encoded body", b"id=m-11&text=hello", FORM_HEADERS),
        ("unterminated string", b'{"id": "m-12", "text": "no end', JSON_HEADERS),
        ("no Content-Type, not JSON", b"\x00\x01\x02\x03", ()),
    ]
    cases = [
        Case(label, body=body, headers=headers, echoes=(body.decode("utf-8", "replace"),))
        for label, body, headers in rows
    ]
    # Valid JSON under a wrong content type: refusing is right, understanding it is harmless.
    cases.append(
        Case(
            "valid JSON sent as text/plain",
            body=valid,
            headers=(("Content-Type", "text/plain"),),
            accept=REFUSE_OR_VALID,
            sent_id="m-0",
        )
    )
    return cases


def _nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "array" else ('{"a":' * depth + "1" + "}" * depth)


def _body_with_raw_text(spec: TargetSpec, raw_json_text: str, sent_id: str) -> bytes:
    """A body whose text slot holds ``raw_json_text`` verbatim (built as text: no recursion)."""
    marker = "\u2603clfwatch-slot\u2603"
    document = json.dumps(spec.body_with(marker, sent_id), ensure_ascii=False)
    return document.replace(json.dumps(marker, ensure_ascii=False), raw_json_text).encode("utf-8")


def _python_body_shell(spec: TargetSpec, text_expr: str, sent_id: str) -> str:
    """A ``python3 -c`` command printing a body whose text slot holds the JSON of ``text_expr``."""
    marker = "\u2603clfwatch-slot\u2603"
    document = json.dumps(spec.body_with(marker, sent_id))
    head, _, tail = document.partition(json.dumps(marker))
    code = f"import sys; sys.stdout.write({head!r} + {text_expr} + {tail!r})"
    return f"python3 -c {shlex.quote(code)}"


def schema_violation_cases(ctx: StressContext) -> list[Case]:
    spec = ctx.spec
    depth = ctx.bars.nesting_depth
    values: list[tuple[str, Any, Any]] = [
        ("text missing", DROP, "s-1"),
        ("id missing", "some text", DROP),
        ("text is a number", 12345, "s-3"),
        ("text is a float", 0.5, "s-4"),
        ("text is a boolean", True, "s-5"),
        ("text is a list", ["a", "b"], "s-6"),
        ("text is an object", {"$gt": ""}, "s-7"),
        ("text is null", None, "s-8"),
        ("id is a number", "some text", 42),
        ("id is null", "some text", None),
        ("id is an object", "some text", {"nested": [1, 2]}),
        ("id of 10,000 characters", "some text", "i" * 10_000),
    ]
    cases = [
        Case(
            label,
            body=json.dumps(spec.body_with(text, sent_id)).encode(),
            accept=REFUSE_OR_VALID,
            sent_id=sent_id if isinstance(sent_id, str) else None,
            echoes=tuple(v for v in (text, sent_id) if isinstance(v, str)),
        )
        for label, text, sent_id in values
    ]
    cases.append(
        Case(
            "extra unknown fields",
            body=json.dumps(
                spec.body_with("some text", "s-13", extra={"admin": True, "debug": 1, "__proto__": {"x": 1}})
            ).encode(),
            accept=REFUSE_OR_VALID,
            sent_id="s-13",
        )
    )
    for label, document in (
        ("empty object", {}),
        ("JSON array", []),
        ("JSON string", "text"),
        ("JSON null", None),
        ("JSON number", 7),
    ):
        cases.append(Case(f"body is {label}", body=json.dumps(document).encode(), accept=REFUSE_OR_VALID))
    for kind in ("array", "object"):
        nested = _nested(depth, kind)
        expr = (
            f"'[' * {depth} + ']' * {depth}"
            if kind == "array"
            else f"'{{\"a\":' * {depth} + '1' + '}}' * {depth}"
        )
        cases.append(
            Case(
                f"text nested {depth} levels deep ({kind})",
                body=_body_with_raw_text(spec, nested, "s-deep"),
                body_shell=_python_body_shell(spec, expr, "s-deep"),
                accept=REFUSE_OR_VALID,
            )
        )
    cases.append(
        Case(
            "text is a number too big for a float",
            body=_body_with_raw_text(spec, "1e400", "s-big"),
            accept=REFUSE_OR_VALID,
        )
    )
    return cases


DIALOG_LINE = "user: hello bot, how are you today? bot: fine, thank you, and you? "


def huge_payload_cases(ctx: StressContext) -> list[Case]:
    spec = ctx.spec
    cases = []
    for size in ctx.bars.huge_sizes_bytes:
        label = f"{size / (1024 * 1024):g} MB text" if size >= 1024 * 1024 else f"{size // 1024} kB text"
        text = (DIALOG_LINE * (size // len(DIALOG_LINE) + 1))[:size]
        sent_id = f"huge-{size}"
        expr = f"({DIALOG_LINE!r} * {size // len(DIALOG_LINE) + 1})[:{size}]"
        shell = _python_body_shell(spec, f"__import__('json').dumps({expr})", sent_id)
        cases.append(
            Case(
                label,
                body=spec.body(text, sent_id),
                body_shell=shell,
                via_raw=True,
                accept=REFUSE_OR_VALID,
                sent_id=sent_id,
                timeout_s=ctx.bars.huge_timeout_s,
            )
        )
    return cases


def unicode_edge_cases(ctx: StressContext) -> list[Case]:
    spec = ctx.spec
    word = ("bot" * (ctx.bars.unicode_long_word_chars // 3 + 1))[: ctx.bars.unicode_long_word_chars]
    texts = [
        ("emoji and ZWJ sequences", "🤖🔥👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 are you a bot? 🤔"),
        ("right-to-left text", "مرحبا، هل أنت روبوت؟ שלום, האם אתה בוט?"),
        ("bidi override characters", "abc\u202edcba\u202c \u2066isolate\u2069"),
        ("zero-width characters", "b\u200bo\u200ct\u200d \ufeffhidden\u2060joiner"),
        ("control characters", "bell\x07 escape\x1b[31mred\x1b[0m nul\x00 del\x7f backspace\x08"),
        ("only whitespace", " \t\n\r\u00a0\u2003\u3000 "),
        ("empty text", ""),
        ("combining marks", "Z\u0335\u0321\u031bA\u0337L\u0338G\u0335O\u0336" * 20),
        ("astral-plane CJK", "𠜎𠜱𠝹𠱓 𩸽 𝕳𝖊𝖑𝖑𝖔"),
        ("compatibility characters", "ﬁ ℌ Å ① ｆｕｌｌｗｉｄｔｈ"),
        (f"one word of {len(word):,} characters", word),
    ]
    cases = [
        Case(label, body=spec.body(text, f"u-{i}"), accept=REFUSE_OR_VALID, sent_id=f"u-{i}", echoes=(text,))
        for i, (label, text) in enumerate(texts)
    ]
    # A lone surrogate is legal JSON escape syntax but not a character: it breaks UTF-8 encoders.
    cases.append(
        Case(
            "lone surrogate escape",
            body=_body_with_raw_text(spec, '"bot \\ud800 here"', "u-sur"),
            accept=REFUSE_OR_VALID,
            sent_id="u-sur",
        )
    )
    cases.append(
        Case(
            "emoji in the id",
            body=spec.body("hello", "🤖-id-\u200b"),
            accept=REFUSE_OR_VALID,
            sent_id="🤖-id-\u200b",
        )
    )
    return cases


INJECTION_STRINGS = (
    ("SQL tautology", "' OR '1'='1' --"),
    ("SQL stacked query", "1; DROP TABLE predictions; --"),
    ("SQL union", '" UNION SELECT password FROM users --'),
    ("shell substitution", "$(id)"),
    ("shell backticks", "`id`; cat /etc/passwd"),
    ("shell pipe", "| cat /etc/passwd"),
    ("Jinja template", "{{1337*1337}}"),
    ("EL template", "${1337*1337}"),
    ("ERB template", "<%= 1337*1337 %>"),
    ("Python format string", "{0.__class__.__mro__} %s%s%s%n"),
    ("path traversal", "../../../../../../etc/passwd"),
    ("Windows path traversal", "..\\..\\..\\..\\windows\\win.ini"),
    ("encoded traversal", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
    ("log forging", "ok\nERROR 2026-01-01T00:00:00Z level=CRITICAL forged entry\r\nINFO admin login"),
    ("terminal escapes", "\x1b]0;pwned\x07\x1b[2J\x1b[31mred"),
    ("script tag", "<script>alert(document.cookie)</script>"),
    ("HTML event handler", "<img src=x onerror=alert(1)>"),
    ("JNDI lookup", "${jndi:ldap://127.0.0.1:1389/a}"),
    ("NoSQL operator as text", '{"$where": "sleep(5000)"}'),
)
HEADER_NAMES = ("User-Agent", "X-Forwarded-For", "Referer", "X-Request-Id", "Accept-Language")


def injection_cases(ctx: StressContext) -> list[Case]:
    spec = ctx.spec
    forbidden = (
        (TEMPLATE_PRODUCT, "a template expression was evaluated (1337*1337 came back)"),
        (COMMAND_OUTPUT, "a shell command ran (the output of `id` came back)"),
    )
    cases = []
    for i, (label, payload) in enumerate(INJECTION_STRINGS):
        cases.append(
            Case(
                f"{label} in the text",
                body=spec.body(payload, f"inj-{i}"),
                accept=REFUSE_OR_VALID,
                sent_id=f"inj-{i}",
                echoes=(payload,),
                forbidden=forbidden,
            )
        )
    for label, payload in INJECTION_STRINGS[:8]:
        cases.append(
            Case(
                f"{label} in the id",
                body=spec.body("hello", payload),
                accept=REFUSE_OR_VALID,
                sent_id=payload,
                echoes=(payload,),
                forbidden=forbidden,
            )
        )
    header_safe = [
        (label, p)
        for label, p in INJECTION_STRINGS
        if "\n" not in p and "\r" not in p and "\x1b" not in p and p.isascii()
    ]
    for i, (label, payload) in enumerate(header_safe):
        name = HEADER_NAMES[i % len(HEADER_NAMES)]
        cases.append(
            Case(
                f"{label} in the {name} header",
                body=spec.body("hello", f"hdr-{i}"),
                headers=(*JSON_HEADERS, (name, payload)),
                accept=REFUSE_OR_VALID,
                sent_id=f"hdr-{i}",
                echoes=(payload,),
                forbidden=forbidden,
            )
        )
    return cases


def http_abuse_cases(ctx: StressContext) -> list[Case]:
    spec = ctx.spec
    bars = ctx.bars
    valid = spec.body("hello there", "abuse-0")
    host = spec.host_header
    health, predict = spec.raw_path(spec.health_path), spec.raw_path(spec.predict_path)
    refuse_or_2xx = frozenset({ACCEPT_4XX, ACCEPT_2XX})
    garbage = frozenset({ACCEPT_4XX, ACCEPT_CLOSED})
    big_value = "a" * bars.oversized_header_bytes
    big_shell_code = (
        f"import sys; sys.stdout.write('GET {health} HTTP/1.1\\r\\nHost: {host}\\r\\n"
        f"X-Big: ' + 'a' * {bars.oversized_header_bytes} + '\\r\\nConnection: close\\r\\n\\r\\n')"
    )
    query = "&".join(f"p{i}={i}" for i in range(bars.many_query_params))
    many_headers = tuple((f"X-Header-{i}", "v") for i in range(500))
    cases = [
        Case(f"{method} on the predict path", method=method, headers=(), accept=REFUSE)
        for method in ("GET", "PUT", "DELETE", "PATCH")
    ]
    cases += [
        Case("OPTIONS on the predict path", method="OPTIONS", headers=(), accept=refuse_or_2xx),
        Case(
            "unknown method FOO",
            method="FOO",
            headers=(),
            accept=frozenset({ACCEPT_4XX, ACCEPT_501}),
            via_raw=True,
        ),
        Case("unknown path", method="GET", path="/no-such-path-4e7b", headers=(), accept=REFUSE),
        Case(
            "unknown path under predict",
            method="POST",
            path=spec.predict_path + "/admin/../x",
            body=valid,
            accept=REFUSE,
            via_raw=True,
        ),
        Case(
            "path traversal in the URL",
            method="GET",
            path="/../../../../etc/passwd",
            headers=(),
            raw_head=f"GET {spec.raw_path('/../../../../etc/passwd')} HTTP/1.1\r\nHost: {host}\r\n"
            "Connection: close\r\n\r\n".encode(),
            accept=REFUSE,
        ),
        Case(
            "encoded NUL in the URL",
            method="GET",
            path="/health%00.json",
            headers=(),
            accept=REFUSE,
            via_raw=True,
        ),
        Case(
            f"URL of {bars.oversized_header_bytes // 1024} kB",
            method="GET",
            path="/" + "a" * bars.oversized_header_bytes,
            headers=(),
            accept=garbage,
            via_raw=True,
        ),
        Case(
            f"{bars.oversized_header_bytes // 1024} kB header on health",
            method="GET",
            path=spec.health_path,
            headers=(("X-Big", big_value),),
            accept=refuse_or_2xx | {ACCEPT_CLOSED},
            via_raw=True,
            body_shell=f"python3 -c {shlex.quote(big_shell_code)}",
            raw_head=f"GET {health} HTTP/1.1\r\nHost: {host}\r\nX-Big: {big_value}\r\n"
            "Connection: close\r\n\r\n".encode(),
        ),
        Case(
            "500 headers on predict",
            headers=(*JSON_HEADERS, *many_headers),
            body=valid,
            accept=frozenset({ACCEPT_4XX, ACCEPT_VALID, ACCEPT_CLOSED}),
            sent_id="abuse-0",
            via_raw=True,
        ),
        Case(
            f"{bars.many_query_params} query parameters on health",
            method="GET",
            path=f"{spec.health_path}?{query}",
            headers=(),
            accept=refuse_or_2xx,
            via_raw=True,
        ),
        Case(
            f"{bars.many_query_params} query parameters on predict",
            path=f"{spec.predict_path}?{query}",
            body=valid,
            accept=REFUSE_OR_VALID,
            sent_id="abuse-0",
            via_raw=True,
        ),
        Case(
            "header line without a colon",
            method="GET",
            path=spec.health_path,
            raw_head=f"GET {health} HTTP/1.1\r\nHost: {host}\r\nthis is not a header\r\n"
            "Connection: close\r\n\r\n".encode(),
            accept=garbage,
        ),
        Case(
            "non-numeric Content-Length",
            raw_head=f"POST {predict} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n".encode(),
            body=valid,
            accept=garbage,
        ),
        Case(
            "negative Content-Length",
            raw_head=f"POST {predict} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: -5\r\nConnection: close\r\n\r\n".encode(),
            body=valid,
            accept=garbage,
        ),
        Case(
            "bytes in the request line that are not ASCII",
            method="GET",
            raw_head=b"GET /h\xffe\xfe HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n",
            accept=garbage,
        ),
        Case(
            "TLS handshake sent to a plain HTTP port",
            method="GET",
            raw_head=bytes.fromhex("16030100a5010000a10303") + b"\x00" * 32 + b"\r\n\r\n",
            accept=garbage,
        ),
    ]
    if spec.is_https:  # a TLS server would see the handshake as a handshake; drop the case
        cases = [c for c in cases if not c.label.startswith("TLS handshake")]
    return cases
