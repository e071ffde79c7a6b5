"""The HTTP contract and every client-error path, against a real uvicorn on loopback."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sklearn.metrics import roc_auc_score

from core.contract import Outcome, health_verdict, predict_verdict, render_body
from service.data import DATA_DIR, EVAL_FILE
from service.model import load_model, read_labelled_csv
from tests.reference import reference_service
from tests.service.conftest import access_record, all_log_text

MARKER = "MARK3R<script>alert(1)</script>'; DROP TABLE x;--{{7*7}}"
JSON = {"content-type": "application/json"}
MAX_DETAIL_CHARS = 200
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def _post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/predict", timeout=10, **kwargs)


# ------------------------------------------------------------------ the contract
CONTRACT_CASES = [
    ("e0001", "hello everyone, anyone up for pizza tonight?"),
    ("e0002", "Поздравляем! Вы выиграли iPhone 16. Заберите приз: https://bit.ly/x"),
    ("emoji", "😂😂😂 🔥"),
    ("empty", ""),
    ("spaces", "   \n\t "),
    ("rtl", "مرحبا \u202eevil\u202c بالعالم"),
    ("zero-width", "\u200b\u200c\u200d\ufeff"),
    ("control", "\x00\x01\x07\x1b[31mred"),
    ("идентификатор", "привет"),
    ("i" * 256, "long id"),
    ("at-cap", "x" * 100_000),
    ("injection", MARKER),
]


@pytest.mark.parametrize(("sample_id", "text"), CONTRACT_CASES, ids=[c[0][:12] for c in CONTRACT_CASES])
def test_predict_answers_the_contract(
    service_url: str, trained_model_dir: Path, sample_id: str, text: str
) -> None:
    r = _post(service_url, content=render_body(None, text=text, sample_id=sample_id), headers=JSON)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    verdict = predict_verdict(r.status_code, r.content, sent_id=sample_id)  # the prober's and stress' rule
    assert verdict.outcome == Outcome.OK, verdict.detail
    body = r.json()
    assert verdict.probability == body["probability"]
    assert set(body) == {"id", "probability"}
    assert body["id"] == sample_id
    assert isinstance(body["probability"], float)
    assert 0.0 <= body["probability"] <= 1.0
    assert body["probability"] == pytest.approx(load_model(trained_model_dir).probability(text), abs=1e-12)


def test_extra_fields_are_ignored(service_url: str) -> None:
    r = _post(service_url, json={"id": "a", "text": "hi", MARKER: MARKER, "nested": {"deep": [1, 2]}})
    assert r.status_code == 200
    assert MARKER not in r.text


def test_health_reports_the_model_version(service_url: str, trained_model_dir: Path) -> None:
    r = httpx.get(f"{service_url}/health")
    assert r.status_code == 200
    assert health_verdict(r.status_code, r.content).outcome == Outcome.OK
    assert r.json() == {"status": "ok", "model_version": load_model(trained_model_dir).version}


def test_the_service_separates_the_eval_set(service_url: str) -> None:
    texts, labels = read_labelled_csv(DATA_DIR / EVAL_FILE)
    with httpx.Client(base_url=service_url, timeout=10) as client:
        probs = [client.post("/predict", json={"id": str(i), "text": t}).json()["probability"]
                 for i, t in enumerate(texts)]
    assert 0.85 <= roc_auc_score(labels, probs) <= 0.97


# ------------------------------------------------------------------ client errors
ERROR_CASES: list[tuple[str, str, str, dict[str, Any], tuple[int, ...]]] = [
    ("truncated json", "POST", "/predict",
     {"content": b'{"id": "a", "text": "' + MARKER.encode(), "headers": JSON}, (400,)),
    ("json garbage", "POST", "/predict", {"content": MARKER.encode(), "headers": JSON}, (400,)),
    ("non utf-8", "POST", "/predict",
     {"content": b'{"id":"a","text":"\xff\xfe\xfd"}', "headers": JSON}, (400,)),
    ("latin-1 bytes", "POST", "/predict", {"content": '{"id":"a","text":"café"}'.encode("latin-1"),
                                           "headers": JSON}, (400,)),
    ("deep nesting", "POST", "/predict", {"content": b"[" * 200_000 + b"]" * 200_000, "headers": JSON},
     (400,)),
    ("empty body", "POST", "/predict", {"content": b"", "headers": JSON}, (400,)),
    ("no content type", "POST", "/predict", {"content": b'{"id":"a","text":"b"}'}, (415,)),
    ("text/plain", "POST", "/predict",
     {"content": MARKER.encode(), "headers": {"content-type": "text/plain"}}, (415,)),
    ("form body", "POST", "/predict", {"data": {"id": "a", "text": MARKER}}, (415,)),
    ("json with charset", "POST", "/predict",
     {"content": b'{"id":"a","text":5}', "headers": {"content-type": "application/json; charset=utf-8"}},
     (422,)),
    ("json suffix type", "POST", "/predict",
     {"content": b'{"id":"a"}', "headers": {"content-type": "application/problem+json"}}, (422,)),
    ("array body", "POST", "/predict", {"json": [{"id": "a", "text": MARKER}]}, (422,)),
    ("null body", "POST", "/predict", {"content": b"null", "headers": JSON}, (422,)),
    ("string body", "POST", "/predict", {"json": MARKER}, (422,)),
    ("number body", "POST", "/predict", {"json": 42}, (422,)),
    ("empty object", "POST", "/predict", {"json": {}}, (422,)),
    ("missing text", "POST", "/predict", {"json": {"id": MARKER}}, (422,)),
    ("missing id", "POST", "/predict", {"json": {"text": MARKER}}, (422,)),
    ("id is a number", "POST", "/predict", {"json": {"id": 1, "text": MARKER}}, (422,)),
    ("text is a number", "POST", "/predict", {"json": {"id": "a", "text": 5}}, (422,)),
    ("text is null", "POST", "/predict", {"json": {"id": "a", "text": None}}, (422,)),
    ("text is a list", "POST", "/predict", {"json": {"id": "a", "text": [MARKER]}}, (422,)),
    ("text is an object", "POST", "/predict", {"json": {"id": "a", "text": {"t": MARKER}}}, (422,)),
    ("text is a bool", "POST", "/predict", {"json": {"id": "a", "text": True}}, (422,)),
    ("empty id", "POST", "/predict", {"json": {"id": "", "text": MARKER}}, (422,)),
    ("id too long", "POST", "/predict", {"json": {"id": MARKER * 10, "text": "x"}}, (422,)),
    ("text over cap", "POST", "/predict", {"json": {"id": "a", "text": MARKER + "x" * 100_000}}, (413,)),
    ("body over cap", "POST", "/predict", {"json": {"id": "a", "text": MARKER * 20_000}}, (413,)),
    ("GET predict", "GET", "/predict", {}, (405,)),
    ("PUT predict", "PUT", "/predict", {"json": {"id": "a", "text": "b"}}, (405,)),
    ("DELETE health", "DELETE", "/health", {}, (405,)),
    ("POST health", "POST", "/health", {"json": {}}, (405,)),
    ("unknown path", "GET", "/" + MARKER, {}, (404,)),
    ("traversal", "GET", "/predict/../../etc/passwd", {}, (404,)),
    ("trailing slash", "POST", "/predict/", {"json": {"id": "a", "text": "b"}}, (404,)),
    ("PATCH predict", "PATCH", "/predict", {"json": {"id": "a", "text": "b"}}, (405,)),
    ("OPTIONS predict", "OPTIONS", "/predict", {}, (405,)),
]


@pytest.mark.parametrize(("name", "method", "path", "kwargs", "statuses"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
def test_client_errors_get_a_short_json_detail(
    service_url: str, name: str, method: str, path: str, kwargs: dict[str, Any], statuses: tuple[int, ...]
) -> None:
    r = httpx.request(method, f"{service_url}{path}", timeout=10, follow_redirects=False, **kwargs)
    assert r.status_code in statuses
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    assert 0 < len(body["detail"]) <= MAX_DETAIL_CHARS
    assert "MARK3R" not in r.text  # never echo the input
    assert "Traceback" not in r.text and "/work/" not in r.text
    assert GENERATED_ID.fullmatch(r.headers["x-request-id"])
    if r.status_code == 405:
        assert "allow" in r.headers


def test_method_the_http_parser_does_not_know_is_refused(service_url: str) -> None:
    """httptools refuses unknown methods before the app sees them: a 4xx, never a 5xx or a hang."""
    r = httpx.request("BREW", f"{service_url}/predict", timeout=10)
    assert 400 <= r.status_code < 500
    assert httpx.get(f"{service_url}/health").status_code == 200


@pytest.mark.parametrize(("overrides", "body", "status"), [
    ({"service_max_body_bytes": 2048}, {"id": "a", "text": "x" * 1900}, 200),
    ({"service_max_body_bytes": 2048}, {"id": "a", "text": "x" * 2100}, 413),
    ({"service_max_text_chars": 50}, {"id": "a", "text": "я" * 50}, 200),
    ({"service_max_text_chars": 50}, {"id": "a", "text": "я" * 51}, 413),
])
def test_caps_follow_the_settings(trained_model_dir: Path, overrides: dict[str, int], body: dict[str, str],
                                  status: int) -> None:
    with reference_service(trained_model_dir, **overrides) as url:
        assert _post(url, json=body).status_code == status


def _raw_connection(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _read_status_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_declared_oversized_body_is_refused_before_it_is_sent(service_url: str) -> None:
    """10 GB announced, not a byte sent: the 413 can only come from Content-Length."""
    with _raw_connection(service_url) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000000\r\n\r\n")
        assert _read_status_line(sock).startswith(b"HTTP/1.1 413")


CHUNK = b"x" * 65536
STREAM_LIMIT_BYTES = 64 * 1024 * 1024
STREAM_LIMIT_S = 20.0


def test_endless_chunked_body_is_cut_at_the_cap(service_url: str) -> None:
    """A chunked body that never ends: the server must answer 413 while it is still streaming."""
    import select

    with _raw_connection(service_url) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        deadline = time.monotonic() + STREAM_LIMIT_S
        while sent < STREAM_LIMIT_BYTES and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            except OSError:
                break
            sent += len(CHUNK)
        assert sent < STREAM_LIMIT_BYTES, "the server waited for the end of an endless body"
        assert _read_status_line(sock).startswith(b"HTTP/1.1 413")


def test_chunked_body_under_the_cap_is_served(service_url: str) -> None:
    payload = json.dumps({"id": "c", "text": "hello from a chunked body"}).encode()
    r = _post(service_url, content=iter([payload[:10], payload[10:]]), headers=JSON)
    assert r.status_code == 200
    assert r.json()["id"] == "c"


def test_chunked_body_over_the_cap_gets_413(service_url: str) -> None:
    r = _post(service_url, content=iter([CHUNK] * 24), headers=JSON)
    assert r.status_code == 413
    assert r.json() == {"detail": "body over 1048576 bytes"}


def test_service_still_healthy_after_abuse(service_url: str) -> None:
    assert httpx.get(f"{service_url}/health").status_code == 200
    assert _post(service_url, json={"id": "a", "text": "b"}).status_code == 200


# ------------------------------------------------------------------ request id and the access line
@pytest.mark.parametrize(("sent", "kept"), [
    ("abc-123", True),
    ("3f1e2d.req:42_x", True),
    ("with space", False),
    ("x" * 200, False),
    ("<script>", False),
    ("id\tTAB", False),
    ("", False),
])
def test_request_id_is_kept_only_when_sane(service_url: str, service_logs: pytest.LogCaptureFixture,
                                           sent: str, kept: bool) -> None:
    r = httpx.get(f"{service_url}/health", headers={"X-Request-ID": sent})
    returned = r.headers["x-request-id"]
    if kept:
        assert returned == sent
    else:
        assert GENERATED_ID.fullmatch(returned)
    access_record(service_logs, returned)


def test_one_access_line_per_request_without_the_text(service_url: str, service_logs: pytest.LogCaptureFixture
                                                      ) -> None:
    r = _post(service_url, json={"id": "log-check", "text": MARKER}, headers={"X-Request-ID": "log-check-1"})
    assert r.status_code == 200
    line = access_record(service_logs, "log-check-1").getMessage()
    expected = r"request_id=log-check-1 method=POST path=/predict status=200 latency_ms=\d+\.\d\d"
    assert re.fullmatch(expected, line)
    lines = [rec for rec in service_logs.records if "request_id=log-check-1 " in rec.getMessage()]
    assert len(lines) == 1
    assert "MARK3R" not in all_log_text(service_logs)


def test_hostile_paths_cannot_forge_log_lines(
    service_url: str, service_logs: pytest.LogCaptureFixture
) -> None:
    r = httpx.get(f"{service_url}/x%0Afake%20request_id=forged%20status=200%0D")
    assert r.status_code == 404
    line = access_record(service_logs, r.headers["x-request-id"]).getMessage()
    assert "\n" not in line and "\r" not in line
    assert "path=other" in line
    assert 'raw_path="/x\\nfake request_id=forged status=200\\r"' in line


@pytest.mark.parametrize("framing", [b"Content-Length: 1000\r\n", b"Transfer-Encoding: chunked\r\n"])
def test_client_leaving_mid_body_is_not_an_error(
    service_url: str, service_logs: pytest.LogCaptureFixture, framing: bytes
) -> None:
    request_id = f"gone-{len(framing)}"
    with _raw_connection(service_url) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Request-ID: " + request_id.encode() + b"\r\n" + framing + b"\r\n")
        sock.sendall(b'a\r\n{"id": "a"' if b"chunked" in framing else b'{"id": "a"')
    line = access_record(service_logs, request_id).getMessage()
    assert "status=499" in line
    assert not [r for r in service_logs.records if r.levelno >= logging.ERROR]
    assert httpx.get(f"{service_url}/health").status_code == 200
