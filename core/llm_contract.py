"""The openai-chat contract: what clfwatch sends an LLM target and what counts as a correct answer.

An ``openai-chat`` target serves OpenAI's ``POST /v1/chat/completions`` (and ``GET
/v1/models``). Teams' bots call it through the official ``openai`` client, so "correct" means
what that client accepts when it validates (``_strict_response_validation=True``: the
``openai`` package's own pydantic types, validated exactly as the client does), plus what the
types allow but a client still needs (an ``object`` of the right kind, at least one choice, an
assistant role, a stream that ends with ``data: [DONE]``). The prober, the LLM stress suite and
the tests all judge through these functions, so one answer gets one verdict everywhere.

Everything here is pure: bytes in, reasons out, no I/O. Reasons are short fixed phrases with a
field path (``choices[0].message.role: expected "assistant"``); they never echo the body, a
header or a key, so they can be stored and shown as they are. Verdicts never raise for anything
a target sends (``1e400``, deep nesting, invalid UTF-8 are reasons, not exceptions).

The ``openai`` package is imported on first use, not at import time: modules the CLI loads for
unrelated commands may import this one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, get_args

import pydantic

from core.llm_prompts import PROMPTS

DEFAULT_MAX_TOKENS = 16  # a probe asks for a few tokens: enough for TTFT, ITL and tokens/s
FINISH_REASONS: frozenset[str] = frozenset(
    {"stop", "length", "tool_calls", "content_filter", "function_call"}
)

# What the openai types require (they check these); the demo and faulty servers build with them.
COMPLETION_OBJECT = "chat.completion"
CHUNK_OBJECT = "chat.completion.chunk"
MODEL_OBJECT = "model"
LIST_OBJECT = "list"
ASSISTANT_ROLE = "assistant"
DONE_DATA = "[DONE]"  # the client stops at any data starting with it, so do we

MAX_REASON_CHARS = 300  # first_problem's cap: a probe's stored detail stays short
MAX_CONTENT_CHARS = 64 * 1024  # content a StreamCheck keeps; the rest is counted, not kept
MAX_REASONS_PER_DOCUMENT = 8  # a hopeless body gives a few reasons, not hundreds
MAX_BAD_CHUNKS_REPORTED = 3  # chunks whose reasons are kept; the others are counted

# --- reasons: fixed phrases (the field path is prepended) ------------------------------

REASON_NOT_JSON = "body: not JSON"
REASON_NOT_OBJECT = "body: expected a JSON object"
REASON_ERROR_OBJECT = "error: an error object in a 200 answer"
REASON_NO_CHOICE = "choices: at least one choice"
REASON_NO_MODEL = "data: at least one model"
REASON_NO_DONE = "stream: ended without data: [DONE]"
REASON_AFTER_DONE = "stream: data after data: [DONE]"
REASON_EMPTY_STREAM = "stream: no chunk before data: [DONE]"
REASON_NO_EVENTS = "stream: no data events (not a server-sent event stream)"
REASON_NO_FINISH = "stream: no chunk has a finish_reason"

_ERROR_PHRASES = {
    "missing": "field required",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "int_parsing_size": "integer too large",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": "expected a string",
    "string_unicode": "expected a string",
    "bool_type": "expected a boolean",
    "bool_parsing": "expected a boolean",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "none_required": "expected null",
    "union_tag_invalid": "unknown type tag",
    "union_tag_not_found": "type tag missing",
    "recursion_loop": "nested too deep",
}
_UNION_MEMBER = re.compile(r"^[A-Z]|[\[(]")  # loc steps naming a union member, not a field


# --- requests --------------------------------------------------------------------------


def chat_body(*, model: str, prompt: str, max_tokens: int = DEFAULT_MAX_TOKENS, stream: bool) -> bytes:
    """The JSON body of one chat completion request with a single user message.

    A streamed request asks for ``stream_options.include_usage`` so servers that support it
    (OpenAI, vLLM, llama.cpp, LiteLLM) send ``usage`` in a last chunk and tokens per second
    comes from the server's own token count instead of counted chunks.
    """
    document: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if stream:
        document["stream_options"] = {"include_usage": True}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def pick_prompt(target_id: int, slot: int) -> str:
    """The prompt for a target's ``slot``-th probe: deterministic, different targets start apart.

    Successive slots of one target walk through the whole set, so a cache keyed on the prompt
    sees each prompt only once per ``len(PROMPTS)`` probes.
    """
    return PROMPTS[(target_id * 7 + slot) % len(PROMPTS)]


# --- schema verdicts -------------------------------------------------------------------


@cache
def _openai_types() -> tuple[Any, Any, Any]:
    # Imported here: the openai package costs a few hundred ms to import, which the CLI must
    # not pay for commands that never judge an LLM answer.
    from openai.types import Model
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    return ChatCompletion, ChatCompletionChunk, Model


def warm_up() -> None:
    """Import the openai types and build their validators now (about 0.8 s of CPU, once).

    The first verdict pays that otherwise; a prober calls this at start so the cost never
    lands inside its event loop, where it would delay other targets' probes and skew the
    arrival times they record.
    """
    for model in _openai_types():
        _type_reasons(model, {})  # builds the deferred validator; the reasons are expected


@cache
def _known_fields() -> frozenset[str]:
    """Every field name of the openai types we validate with, nested models included.

    A pydantic location can hold a key of the answer (``categories`` is a ``Dict[str, bool]``);
    only names from the types are shown, so a path never echoes what the target sent.
    """
    names: set[str] = set()
    seen: set[type] = set()
    pending: list[Any] = list(_openai_types())
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            if annotation in seen:
                continue
            seen.add(annotation)
            for name, info in annotation.model_fields.items():
                names.add(info.alias or name)
                pending.append(info.annotation)
        else:
            pending.extend(get_args(annotation))
    return frozenset(names)


def field_path(loc: tuple[int | str, ...] | list[int | str], prefix: str = "") -> str:
    """A pydantic ``loc`` as a field path: ``("choices", 0, "message")`` -> ``choices[0].message``.

    Steps that name a union member (``ChatCompletionMessageFunctionToolCall``) are dropped: the
    reader wants the field, not pydantic's attempt at each member. A step that is no field of
    the openai types (a key of the answer under a ``Dict`` field) is shown as ``*``.
    """
    known = _known_fields()
    path = prefix
    for step in loc:
        if isinstance(step, int):
            path += f"[{step}]"
            continue
        if step not in known:
            if _UNION_MEMBER.search(step):
                continue
            step = "*"
        path = f"{path}.{step}" if path else step
    return path or "body"


def _phrase(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "literal_error":
        expected = str((error.get("ctx") or {}).get("expected", ""))
        # The expected values come from the openai types, never from the answer.
        return "expected " + expected.replace("'", '"') if expected else "unexpected value"
    return _ERROR_PHRASES.get(kind, f"invalid value ({kind})")


def _dedupe(reasons: list[str], limit: int = MAX_REASONS_PER_DOCUMENT) -> list[str]:
    out: list[str] = []
    for reason in reasons:
        if reason not in out:
            out.append(reason)
            if len(out) >= limit:
                break
    return out


def _union_step(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    for index, step in enumerate(loc):
        if isinstance(step, str) and _UNION_MEMBER.search(step):
            return loc[:index], step
    return None


def _intended_members(errors: list[Any]) -> list[Any]:
    """Pydantic's errors without those of union members the answer plainly did not mean.

    A tool call with ``"type": "function"`` and no ``arguments`` fails the function member
    (``arguments`` missing) and the custom member (``type`` is not ``"custom"``); only the
    first is the answer's mistake. A member whose literal tag did not match is dropped, unless
    every member's did.
    """
    members: dict[tuple[Any, ...], dict[str, bool]] = {}
    for error in errors:
        found = _union_step(tuple(error["loc"]))
        if found:
            where, member = found
            mismatched = members.setdefault(where, {}).get(member, False)
            members[where][member] = mismatched or error["type"] == "literal_error"
    if not members:
        return errors
    kept = []
    for error in errors:
        found = _union_step(tuple(error["loc"]))
        if found:
            where, member = found
            tried = members[where]
            if tried[member] and not all(tried.values()):
                continue
        kept.append(error)
    return kept


def _type_reasons(model: Any, document: Any, prefix: str = "", skip: tuple[str, ...] = ()) -> list[str]:
    """What ``model.model_validate`` (the official client's strict parsing) finds wrong."""
    try:
        model.model_validate(document)
    except pydantic.ValidationError as exc:
        reasons = []
        for error in _intended_members(exc.errors(include_url=False, include_input=False)):
            path = field_path(error["loc"], prefix)
            if path.endswith(skip):
                continue
            reasons.append(f"{path}: {_phrase(error)}")
        return reasons
    except RecursionError:
        return [f"{prefix or 'body'}: nested too deep"]
    return []


def parse_json(body: bytes | str) -> tuple[Any, str | None]:
    """The JSON document and None, or None and ``body: not JSON``.

    ``json.loads`` on the bytes, as the official client does (``httpx.Response.json``): numbers
    are Python's (``1e400`` is ``inf`` and then fails its type, a 5,000-digit integer is past
    Python's digit limit), a UTF-8 byte order mark passes, invalid UTF-8 or nesting past
    Python's recursion limit is not JSON.
    """
    try:
        return json.loads(body), None
    except (ValueError, RecursionError):
        return None, REASON_NOT_JSON


def _error_object(document: dict[str, Any]) -> bool:
    # The client raises APIError on a truthy "error" member of a stream chunk; a 200 body with
    # one is a server reporting a failure as a success.
    return bool(document.get("error"))


def completion_problems(document: Any) -> list[str]:
    """The reasons a parsed non-streamed answer is not a valid ``ChatCompletion`` ([] = valid)."""
    if not isinstance(document, dict):
        return [REASON_NOT_OBJECT]
    if _error_object(document):
        return [REASON_ERROR_OBJECT]
    completion_type = _openai_types()[0]
    reasons = _type_reasons(completion_type, document)
    if document.get("choices") == []:
        reasons.append(REASON_NO_CHOICE)
    return _dedupe(reasons)


def check_completion(body: bytes) -> list[str]:
    """The reasons a non-streamed chat answer body is wrong; [] when the official client accepts it.

    The openai types decide types, required fields, ``object``, the assistant role and the
    finish reason (validated as the client does with ``_strict_response_validation=True``);
    on top: the body must be a JSON object (the client silently returns None for ``null``),
    must not be an ``{"error": ...}`` object, and must hold at least one choice.
    """
    document, problem = parse_json(body)
    if problem:
        return [problem]
    return completion_problems(document)


def chunk_problems(document: Any, prefix: str = "") -> list[str]:
    """The reasons one parsed stream chunk is not a valid ``ChatCompletionChunk`` ([] = valid).

    Choices may be empty (the last chunk carrying ``usage`` has none); a delta's role, when
    given, must be ``assistant`` (the type allows any chat role).
    """
    if not isinstance(document, dict):
        return [f"{prefix or 'body'}: expected a JSON object"]
    if _error_object(document):
        return [f"{prefix}.error: an error object in the stream" if prefix else "error: an error object"]
    chunk_type = _openai_types()[1]
    reasons = _type_reasons(chunk_type, document, prefix, skip=(".delta.role",))
    choices = document.get("choices")
    if isinstance(choices, list):
        for index, choice in enumerate(choices):
            delta = choice.get("delta") if isinstance(choice, dict) else None
            role = delta.get("role") if isinstance(delta, dict) else None
            if role is not None and role != ASSISTANT_ROLE:
                path = field_path(("choices", index, "delta", "role"), prefix)
                reasons.append(f'{path}: expected "{ASSISTANT_ROLE}"')
    return _dedupe(reasons)


def models_problems(document: Any) -> list[str]:
    """The reasons a parsed ``GET /v1/models`` answer is not a list of ``Model`` ([] = valid)."""
    if not isinstance(document, dict):
        return [REASON_NOT_OBJECT]
    if _error_object(document):
        return [REASON_ERROR_OBJECT]
    reasons = []
    if document.get("object") != LIST_OBJECT:
        reasons.append(f'object: expected "{LIST_OBJECT}"')
    data = document.get("data")
    if not isinstance(data, list):
        reasons.append("data: field required" if data is None else "data: expected a list")
        return reasons
    if not data:
        reasons.append(REASON_NO_MODEL)
    model_type = _openai_types()[2]
    for index, item in enumerate(data):
        reasons.extend(_type_reasons(model_type, item, f"data[{index}]"))
        if len(reasons) >= MAX_REASONS_PER_DOCUMENT:
            break
    return _dedupe(reasons)


def check_models(body: bytes) -> list[str]:
    """The reasons a ``GET /v1/models`` body is wrong; [] when it is a valid list of models.

    Each entry is validated with ``openai.types.Model`` as the client's ``models.list()``
    does (so llama-cpp-python's entries without ``created`` fail); on top, the page must say
    ``"object": "list"`` and hold at least one model.
    """
    document, problem = parse_json(body)
    if problem:
        return [problem]
    return models_problems(document)


def model_ids(body: bytes) -> list[str]:
    """The model ids a ``/v1/models`` body lists, read leniently (a missing ``created`` is fine).

    Registration reads the target's model from here when none is given; the schema verdict is
    ``check_models``'s business, not a reason to refuse the target.
    """
    document, _ = parse_json(body)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        return []
    return [item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]


def models_health_problem(body: bytes) -> str | None:
    """Why a 200 from ``GET /v1/models`` does not count as up when it is the health probe, or None.

    A target without a health route (llama-cpp-python's server has none) is probed on its
    models list; any JSON body is up. The list's schema (``created`` missing, say) is judged by
    ``check_models`` and shown on its own; it never makes a running server count as down.
    """
    return parse_json(body)[1]


def first_problem(problems: list[str]) -> str | None:
    """The reason stored in a probe's detail: the first problem, at most 300 characters."""
    if not problems:
        return None
    reason = problems[0]
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


# --- server-sent events ----------------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    """One dispatched server-sent event (only events with data are dispatched)."""

    data: str  # the data lines joined by "\n"
    done: bool  # the data is the stream's terminator, ``[DONE]``
    event: str | None = None  # the ``event:`` field, when the server sent one
    bad_utf8: bool = False  # a line of this event was not UTF-8 (decoded with U+FFFD)


_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff"


class SseParser:
    """An incremental ``text/event-stream`` parser: feed it bytes as they arrive, get events.

    Follows the HTML spec's event-stream rules like the official client: lines end in CRLF, LF
    or CR; ``data:`` lines of one event join with ``\\n``; ``:`` lines are comments (pings);
    ``event:`` is kept, ``id:``/``retry:`` and unknown fields are ignored; a blank line
    dispatches (so does the end of a ``data: [DONE]`` line: the terminator never waits for
    one). Bytes may be split anywhere, inside a CRLF or a UTF-8 character included: lines are
    cut as bytes and decoded whole. Work is linear in the bytes fed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scan_from = 0  # bytes of the buffer known to hold no line end
        self._data: list[str] = []
        self._event: str | None = None
        self._bad_utf8 = False
        self._first_line = True

    def feed(self, data: bytes) -> list[SseEvent]:
        """The events completed by ``data`` (possibly none)."""
        buffer = self._buffer
        buffer += data
        events: list[SseEvent] = []
        start = 0
        position = self._scan_from
        while True:
            match = _EOL.search(buffer, position)
            if match is None:
                break
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # a CR at the end may be the first half of a CRLF: wait for the next byte
            self._line(bytes(buffer[start : match.start()]), events)
            start = position = match.end()
        del buffer[:start]
        self._scan_from = max(0, len(buffer) - 1) if buffer.endswith(b"\r") else len(buffer)
        return events

    def close(self) -> list[SseEvent]:
        """At the end of the body: a last ``data: [DONE]`` with no line end still counts.

        Any other unfinished event is dropped, as the spec and the official client drop it: a
        stream cut in the middle of a chunk loses that chunk.
        """
        events: list[SseEvent] = []
        if self._buffer:
            self._line(bytes(self._buffer.rstrip(b"\r")), events)
            self._buffer.clear()
            self._scan_from = 0
        self._data = []
        self._event = None
        self._bad_utf8 = False
        return events

    def _line(self, raw: bytes, events: list[SseEvent]) -> None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("utf-8", errors="replace")
            self._bad_utf8 = True
        if self._first_line:
            self._first_line = False
            line = line.removeprefix(_BOM)
        if not line:
            if self._data:
                data = "\n".join(self._data)
                events.append(SseEvent(data, data.startswith(DONE_DATA), self._event, self._bad_utf8))
            self._data = []
            self._event = None
            self._bad_utf8 = False
            return
        if line[0] == ":":
            return
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            if not self._data and value.startswith(DONE_DATA):
                # The terminator is dispatched when its line ends, blank line or not: a server
                # that ends with "data: [DONE]\n" (one newline short) did say [DONE].
                events.append(SseEvent(value, True, self._event, self._bad_utf8))
                self._event = None
                self._bad_utf8 = False
                return
            self._data.append(value)
        elif name == "event":
            self._event = value


# --- judging a stream ------------------------------------------------------------------


@dataclass(frozen=True)
class StreamVerdict:
    """What one streamed chat completion showed; times in milliseconds from the request start."""

    problems: list[str]  # [] = the stream is valid; else field-path reasons, first is the detail
    saw_done: bool  # the stream sent ``data: [DONE]``
    content: str  # the assistant's text, at most MAX_CONTENT_CHARS kept
    chunks: int  # data events before [DONE] (the [DONE] itself not counted)
    content_chunks: int  # chunks whose delta carried non-empty content
    ttft_ms: float | None  # time to first token: first content chunk minus request start
    itl_ms: float | None  # inter-token latency: mean gap between successive content chunks
    output_tokens: int | None  # usage.completion_tokens when sent, else content chunks
    tokens_source: str | None  # "usage" | "chunks"
    tokens_per_s: float | None  # output tokens / (end - first content chunk)
    e2e_ms: float  # end-to-end: last byte minus request start
    content_truncated: bool = False  # content went past MAX_CONTENT_CHARS (the rest counted only)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class StreamCheck:
    """Judges a stream event by event, in constant memory: feed ``add``, then call ``finish``.

    Each chunk is parsed and validated once (``ChatCompletionChunk`` as the client does, plus
    the assistant role), and its reasons are kept for the first few bad chunks only; content
    is kept up to ``max_content_chars``. Problems are collected, never raised.
    """

    max_content_chars: int = MAX_CONTENT_CHARS
    _problems: list[str] = field(default_factory=list, init=False, repr=False)
    _bad_chunks: int = field(default=0, init=False, repr=False)
    _chunks: int = field(default=0, init=False, repr=False)
    _content_chunks: int = field(default=0, init=False, repr=False)
    _pieces: list[str] = field(default_factory=list, init=False, repr=False)
    _content_chars: int = field(default=0, init=False, repr=False)
    _truncated: bool = field(default=False, init=False, repr=False)
    _first_at: float | None = field(default=None, init=False, repr=False)
    _last_at: float | None = field(default=None, init=False, repr=False)
    _usage_tokens: int | None = field(default=None, init=False, repr=False)
    _finished: bool = field(default=False, init=False, repr=False)
    _saw_done: bool = field(default=False, init=False, repr=False)
    _after_done: bool = field(default=False, init=False, repr=False)

    def add(self, event: SseEvent, at_s: float) -> None:
        """Take one event; ``at_s`` is the monotonic time (seconds) it arrived."""
        if self._saw_done:
            self._after_done = True
            return
        if event.done:
            self._saw_done = True
            return
        index = self._chunks
        self._chunks += 1
        prefix = f"chunks[{index}]"
        reasons = [f"{prefix}: not UTF-8"] if event.bad_utf8 else []
        document, problem = parse_json(event.data)
        if problem:
            self._note(reasons + [f"{prefix}: not JSON"])
            return
        reasons.extend(chunk_problems(document, prefix))
        self._note(reasons)
        if not isinstance(document, dict):
            return
        self._read(document, at_s)

    def _note(self, reasons: list[str]) -> None:
        if not reasons:
            return
        self._bad_chunks += 1
        if self._bad_chunks <= MAX_BAD_CHUNKS_REPORTED:
            self._problems.extend(reasons)

    def _read(self, document: dict[str, Any], at_s: float) -> None:
        choices = document.get("choices")
        has_content = False
        if isinstance(choices, list):
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                if choice.get("finish_reason") is not None:
                    self._finished = True
                delta = choice.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(text, str) and text:
                    has_content = True
                    self._keep(text)
        if has_content:
            self._content_chunks += 1
            if self._first_at is None:
                self._first_at = at_s
            self._last_at = at_s
        usage = document.get("usage")
        if isinstance(usage, dict):
            tokens = usage.get("completion_tokens")
            if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
                self._usage_tokens = tokens

    def _keep(self, text: str) -> None:
        room = self.max_content_chars - self._content_chars
        if room <= 0:
            self._truncated = True
            return
        if len(text) > room:
            text = text[:room]
            self._truncated = True
        self._pieces.append(text)
        self._content_chars += len(text)

    def finish(self, started_s: float, ended_s: float) -> StreamVerdict:
        """The verdict once the body ended (or was cut); times are monotonic seconds."""
        problems = list(self._problems)
        hidden = self._bad_chunks - MAX_BAD_CHUNKS_REPORTED
        if hidden > 0:
            problems.append(f"chunks: {hidden} more chunks with problems")
        if self._after_done:
            problems.append(REASON_AFTER_DONE)
        if not self._saw_done:
            problems.append(REASON_NO_DONE if self._chunks else REASON_NO_EVENTS)
        elif self._chunks == 0:
            problems.append(REASON_EMPTY_STREAM)
        elif not self._finished:
            problems.append(REASON_NO_FINISH)
        first, last, count = self._first_at, self._last_at, self._content_chunks
        ttft_ms = (first - started_s) * 1000.0 if first is not None else None
        itl_ms = (
            (last - first) * 1000.0 / (count - 1)
            if first is not None and last is not None and count > 1
            else None
        )
        if self._usage_tokens is not None:
            output_tokens, source = self._usage_tokens, "usage"
        else:
            output_tokens, source = count, "chunks"
        generating_s = ended_s - first if first is not None else 0.0
        tokens_per_s = output_tokens / generating_s if generating_s > 0 and output_tokens else None
        return StreamVerdict(
            problems=problems,
            saw_done=self._saw_done,
            content="".join(self._pieces),
            chunks=self._chunks,
            content_chunks=count,
            ttft_ms=ttft_ms,
            itl_ms=itl_ms,
            output_tokens=output_tokens,
            tokens_source=source,
            tokens_per_s=tokens_per_s,
            e2e_ms=(ended_s - started_s) * 1000.0,
            content_truncated=self._truncated,
        )


def check_stream(body: bytes, times_s: list[float] | None = None) -> StreamVerdict:
    """The verdict on a whole stream body already read (the stress suite, tests).

    Its problems are what ``StreamCheck`` finds chunk by chunk; its times are made up unless
    ``times_s`` gives each event's arrival (start at 0 s, event i at (i + 1) ms, end 1 ms after
    the last), so only the problems and counts mean anything without them.
    """
    parser = SseParser()
    check = StreamCheck()
    events = parser.feed(body) + parser.close()
    at = 0.0
    for index, event in enumerate(events):
        at = times_s[index] if times_s is not None and index < len(times_s) else (index + 1) / 1000.0
        check.add(event, at)
    return check.finish(0.0, at + 0.001)
