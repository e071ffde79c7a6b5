"""Fixtures for the reference service tests: one trained model per session, real uvicorn servers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reference import reference_service

LOG_WAIT_S = 5.0


@pytest.fixture(scope="module")
def service_url(trained_model_dir: Path) -> Iterator[str]:
    """One open reference service shared by a module's tests (they only read from it)."""
    with reference_service(trained_model_dir) as url:
        yield url


@pytest.fixture
def service_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything the in-process server logs under ``service`` during the test."""
    caplog.set_level(logging.INFO, logger="service")
    return caplog


def access_record(caplog: pytest.LogCaptureFixture, request_id: str) -> logging.LogRecord:
    """The access line of one request; it is written just after the response, so wait for it."""
    deadline = time.monotonic() + LOG_WAIT_S
    while time.monotonic() < deadline:
        for record in list(caplog.records):
            if record.name == "service.access" and f"request_id={request_id} " in record.getMessage():
                return record
        time.sleep(0.02)
    raise AssertionError(f"no access log line for request_id={request_id}")


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured message plus formatted tracebacks, as one string."""
    handler = logging.Formatter()
    parts = []
    for record in list(caplog.records):
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(handler.formatException(record.exc_info))
    return "\n".join(parts)
