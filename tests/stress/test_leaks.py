"""The leak detector, as a table: the server's own internals are leaks, echoes of our input are not."""

from __future__ import annotations

import json

import pytest

from stress.leaks import find_leaks, reflected_script, strip_echoes

LEAKING = [
    ("python traceback", 'Traceback (most recent call last):\n  File "x.py", line 3', "stack_trace"),
    ("python frame line only", 'error in File "/srv/app/main.py", line 88, in predict', "stack_trace"),
    ("java frame", "java.lang.NullPointerException\n\tat com.team.Clf.predict(Clf.java:42)", "stack_trace"),
    ("java frame short", "at x.y(", "stack_trace"),
    ("node frame", "TypeError: x is undefined\n    at Object.<anonymous> (/srv/index.js:3:9)", "stack_trace"),
    ("node frame with path", "    at handler (/opt/app/server.js:10:5)", "stack_trace"),
    ("go panic", "panic: runtime error: index out of range\ngoroutine 1 [running]:", "stack_trace"),
    ("js reference error", '{"error": "ReferenceError: model is not defined"}', "internal_error"),
    ("unix path under /usr", '{"detail": "cannot open /usr/lib/python3/model.pkl"}', "file_path"),
    ("home directory", "loaded from /home/student/project/model.joblib", "file_path"),
    ("site-packages", "sklearn/site-packages/sklearn/base.py", "file_path"),
    ("app folder", "/app/service/handlers.py", "file_path"),
    ("windows path", r'{"detail": "C:\\Users\\team\\model.pkl missing"}', "file_path"),
    ("windows path raw", r"C:\inetpub\wwwroot\app.dll", "file_path"),
    ("postgres syntax error", 'ERROR: syntax error at or near "OR"', "sql"),
    ("sqlstate", "SQLSTATE[42000]: Syntax error or access violation", "sql"),
    ("sqlite operational error", 'sqlite3.OperationalError: near "x": syntax error', "sql"),
    ("sqlalchemy wrapped", "(psycopg.errors.UndefinedTable) relation missing", "sql"),
    ("mysql syntax", "You have an error in your SQL syntax; check the manual", "sql"),
    ("sql text", "query failed: SELECT id, text FROM predictions WHERE id = 4", "sql"),
    ("sqlite no such table", "no such table: predictions", "sql"),
    ("werkzeug debugger", "<title>Werkzeug Debugger</title>", "debug_page"),
    ("django debug", "You're seeing this error because you have DEBUG = True in your settings", "debug_page"),
    ("spring whitelabel", "<h1>Whitelabel Error Page</h1>", "debug_page"),
    ("passwd content", "root:x:0:0:root:/root:/bin/bash", "system_file"),
]

CLEAN = [
    ("contract answer", '{"id": "1", "probability": 0.42}'),
    ("short error", '{"detail": "body is not valid JSON"}'),
    ("validation error", '{"detail": "body.text: Input should be a valid string"}'),
    ("uvicorn 400", "Invalid HTTP request received."),
    ("not found", '{"detail":"Not Found"}'),
    ("health", '{"status":"ok","model_version":"2026-11-01"}'),
    ("english with 'at'", '{"detail": "look at the docs for the body format"}'),
    ("url in detail", '{"detail": "see https://example.org/docs"}'),
    ("empty", ""),
]


@pytest.mark.parametrize(("label", "body", "kind"), LEAKING, ids=[c[0] for c in LEAKING])
def test_leaks_are_found(label: str, body: str, kind: str) -> None:
    kinds = [leak.kind for leak in find_leaks(body)]
    assert kind in kinds, f"{label}: expected {kind}, found {kinds}"


@pytest.mark.parametrize(("label", "body"), CLEAN, ids=[c[0] for c in CLEAN])
def test_clean_bodies_are_not_leaks(label: str, body: str) -> None:
    assert find_leaks(body) == []


ECHOES = [
    "../../../../../../etc/passwd",
    '" UNION SELECT password FROM users --',
    "Traceback (most recent call last)",
    "C:\\Users\\x\\a.txt",
    "/home/me/file.txt",
    'line\nwith "quotes" and ünïcode',
]


@pytest.mark.parametrize("sent", ECHOES)
@pytest.mark.parametrize("form", ["raw", "json"])
def test_an_echo_of_our_input_is_not_a_leak(sent: str, form: str) -> None:
    body = json.dumps({"detail": "invalid", "input": sent}) if form == "json" else f"bad input: {sent}"
    assert find_leaks(body, [sent]) == []


def test_a_leak_beside_an_echo_is_still_found() -> None:
    sent = "' OR 1=1 --"
    body = json.dumps({"input": sent, "error": 'sqlite3.OperationalError: near "OR"'})
    assert [leak.kind for leak in find_leaks(body, [sent])] == ["sql"]


def test_echo_stripping_ignores_tiny_strings() -> None:
    # removing "a" or "id" from a body would erase the server's own words
    assert (
        strip_echoes("Traceback (most recent call last)", ["a", "id"]) == "Traceback (most recent call last)"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "reflected"),
    [
        ("<p><script>alert(1)</script></p>", "text/html; charset=utf-8", True),
        ('{"input": "<script>alert(1)</script>"}', "application/json", False),
        ("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", "text/html", False),
    ],
)
def test_reflected_script_only_in_html(body: str, content_type: str, reflected: bool) -> None:
    assert (reflected_script(body, content_type, ["<script>alert(1)</script>"]) is not None) is reflected
