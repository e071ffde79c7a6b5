"""Does a response body show the service's internals? A pure function over text.

What counts as a leak: a stack trace (Python, Java, Node, Go, .NET) or runtime error text, a
server file path, SQL text or a database error, a framework's debug page, or the content of a
system file.

Echoes are not leaks. Servers legitimately repeat a client's input back (FastAPI's 422 carries
the offending ``input``), and our attack strings contain exactly the words we look for
(``../../etc/passwd``, ``' OR 1=1 --``). So every string we sent is removed from the body, in
its raw and JSON-escaped forms, before looking: what remains is the server's own text, and a
leak there is the server's. The one echo we do judge is script injection reflected into an
HTML page, which is a cross-site scripting hole, not a leak (see ``reflected_script``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SCAN_CHARS = 256 * 1024  # a leak shows early; never regex megabytes of body
EXCERPT_CHARS = 80


@dataclass(frozen=True)
class Leak:
    kind: str  # stack_trace, internal_error, file_path, sql, debug_page, system_file
    excerpt: str  # the matching text with a little context, cut short


LEAK_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("stack_trace", re.compile(r"Traceback \(most recent call last\)")),
    ("stack_trace", re.compile(r'File "[^"\n]+", line \d+')),
    ("stack_trace", re.compile(r"\bat (?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$<][\w$<>]*\(")),  # Java, .NET
    ("stack_trace", re.compile(r"\bat Object\.<anonymous>")),  # Node
    ("stack_trace", re.compile(r"\bat (?:async )?[\w$.<>]+ \((?:/|file:|node:)[^)]*:\d+:\d+\)")),
    ("stack_trace", re.compile(r"\bgoroutine \d+ \[running\]|\bpanic: runtime error")),
    ("internal_error", re.compile(r"\bReferenceError: |\bTypeError: Cannot read propert")),
    ("internal_error", re.compile(r"NullPointerException")),
    ("file_path", re.compile(r"(?<![\w.])/(?:usr|home|opt|srv|var/www|app|root)/[\w.+-]+/[\w./+-]*")),
    ("file_path", re.compile(r"[\w.-]*(?:site|dist)-packages[/\\][\w./\\-]+")),
    ("file_path", re.compile(r"\b[A-Za-z]:(?:\\\\|\\)[\w .-]+(?:(?:\\\\|\\)[\w .-]+)+")),
    ("sql", re.compile(r"syntax error at or near", re.IGNORECASE)),
    ("sql", re.compile(r"\bSQLSTATE\b")),
    ("sql", re.compile(r"sqlite3\.\w*Error|\b(?:Operational|Programming|Integrity)Error\b")),
    ("sql", re.compile(r"\bpsycopg2?\.|\bpsycopg\.errors\b|\bpg8000\b")),
    ("sql", re.compile(r"You have an error in your SQL syntax", re.IGNORECASE)),
    ("sql", re.compile(r"\bORA-\d{5}\b|\bunrecognized token:|\bno such (?:table|column):")),
    (
        "sql",
        re.compile(
            r"\b(?:SELECT\s+[\w*, .]+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\s+\w+",
            re.IGNORECASE,
        ),
    ),
    ("debug_page", re.compile(r"Werkzeug Debugger|werkzeug\.debug|The debugger caught an exception")),
    ("debug_page", re.compile(r"DEBUG\s*=\s*True|You're seeing this error because you have")),
    ("debug_page", re.compile(r"Whitelabel Error Page|Action Controller: Exception caught")),
    ("system_file", re.compile(r"root:[x*]?:0:0:")),
    ("system_file", re.compile(r"\[boot loader\]")),
)


def strip_echoes(body: str, sent: Iterable[str]) -> str:
    """Remove every string the client sent (raw and JSON-escaped) from a response body."""
    needles: set[str] = set()
    for s in sent:
        if len(s) < 4:  # removing "a" or "id" would erase the server's own words
            continue
        needles.add(s)
        needles.add(json.dumps(s)[1:-1])
        needles.add(json.dumps(s, ensure_ascii=False)[1:-1])
    for needle in sorted(needles, key=len, reverse=True):
        if needle:
            body = body.replace(needle, " ")
    return body


def find_leaks(body: str, sent: Iterable[str] = ()) -> list[Leak]:
    """Leaks in the server's own text of ``body``, after removing what the client sent."""
    text = strip_echoes(body[:MAX_SCAN_CHARS], sent)
    found: list[Leak] = []
    seen_kinds: set[str] = set()
    for kind, pattern in LEAK_PATTERNS:
        if kind in seen_kinds:
            continue
        match = pattern.search(text)
        if match:
            start = max(0, match.start() - 20)
            found.append(Leak(kind, text[start : start + EXCERPT_CHARS]))
            seen_kinds.add(kind)
    return found


def reflected_script(body: str, content_type: str, sent: Iterable[str]) -> str | None:
    """A ``<script`` payload we sent, echoed unescaped into an HTML response: reflected XSS."""
    if "html" not in content_type.lower():
        return None
    for s in sent:
        if "<script" in s.lower() and s in body:
            return s[:EXCERPT_CHARS]
    return None
