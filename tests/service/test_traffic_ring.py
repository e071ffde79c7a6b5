"""The reference service's traffic ring under a real uvicorn: texts only, at most N, never in the way."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from storage.engine import session_scope
from storage.traffic import count_traffic_texts, traffic_sample
from tests.reference import reference_service
from tests.servers import free_port

WAIT_S = 10.0
MARK = "ring-id-7f3a"


def _predict(client: httpx.Client, url: str, i: int) -> None:
    r = client.post(f"{url}/predict", json={"id": f"{MARK}-{i}", "text": f"message number {i}"},
                    headers={"Authorization": "Bearer tok-ring-1", "x-request-id": f"req-{MARK}-{i}"})
    assert r.status_code == 200, r.text


def _metric(url: str, name: str) -> float:
    body = httpx.get(f"{url}/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _until(check, timeout_s: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_ring_keeps_the_last_n_texts_and_nothing_else(trained_model_dir: Path, db_url: str) -> None:
    keep = 40
    with reference_service(trained_model_dir, api_key="tok-ring-1", database_url=db_url,
                           service_traffic_sample=keep) as url, httpx.Client(timeout=10) as client:
        for i in range(30):
            _predict(client, url, i)
        _until(lambda: _metric(url, "clfwatch_service_traffic_sample_written_total") >= 30)
        for i in range(30, 100):
            _predict(client, url, i)
        # a burst of 70 over a buffer of 40: the oldest 30 of the burst are dropped, counted
        full = 'clfwatch_service_traffic_sample_dropped_total{reason="buffer_full"}'
        _until(lambda: _metric(url, "clfwatch_service_traffic_sample_written_total") + _metric(url, full)
               >= 100)
        # a refused prediction (422: the body has no text) is not kept
        assert client.post(f"{url}/predict", json={"id": 1}, headers={
            "Authorization": "Bearer tok-ring-1"}).status_code == 422
    with session_scope(db_url) as session:
        assert count_traffic_texts(session) == keep
        texts = traffic_sample(session).texts
    assert texts == [f"message number {i}" for i in range(60, 100)]
    assert not any(MARK in t or "tok-ring-1" in t for t in texts)


def test_prediction_answers_when_the_database_is_gone(trained_model_dir: Path) -> None:
    gone = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing_here"
    with reference_service(trained_model_dir, api_key="tok-ring-1", database_url=gone,
                           service_traffic_sample=1000) as url, httpx.Client(timeout=10) as client:
        for i in range(20):
            _predict(client, url, i)
        dropped = 'clfwatch_service_traffic_sample_dropped_total{reason="database"}'
        _until(lambda: _metric(url, dropped) >= 20)
        for i in range(20, 30):
            _predict(client, url, i)  # still 200 after the writer has failed
        assert _metric(url, "clfwatch_service_traffic_sample_written_total") == 0


def test_a_full_buffer_drops_and_counts(trained_model_dir: Path, tmp_path: Path) -> None:
    """A SQLite file that is not there is never created; the writes fail, the tiny buffer overflows."""
    missing = tmp_path / "no.db"
    with reference_service(trained_model_dir, api_key="tok-ring-1", database_url=f"sqlite:///{missing}",
                           service_traffic_sample=5) as url, httpx.Client(timeout=10) as client:
        for i in range(50):
            _predict(client, url, i)
        full = 'clfwatch_service_traffic_sample_dropped_total{reason="buffer_full"}'
        _until(lambda: _metric(url, full) >= 1)
    assert not missing.exists()


def test_ring_off_writes_nothing(trained_model_dir: Path, sqlite_url: str) -> None:
    with reference_service(trained_model_dir, api_key="tok-ring-1", database_url=sqlite_url,
                           service_traffic_sample=0) as url, httpx.Client(timeout=10) as client:
        for i in range(5):
            _predict(client, url, i)
        assert "clfwatch_service_traffic_sample_written_total 0.0" in httpx.get(f"{url}/metrics").text
    with session_scope(sqlite_url) as session:
        assert count_traffic_texts(session) == 0
