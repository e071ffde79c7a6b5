"""An unexpected exception: a bare 500 with a request id to the client, the details to the log only."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from tests.reference import reference_settings
from tests.servers import uvicorn_thread
from tests.service.conftest import access_record, all_log_text

SECRET_DETAIL = "boom at /srv/secret/path.py with password=hunter2"


class ExplodingModel:
    """Stands in for the model to force an internal error inside the route."""

    version = "exploding"

    def probability(self, text: str) -> float:
        raise RuntimeError(SECRET_DETAIL)


@pytest.mark.parametrize("text", ["short", "x" * 10_000])  # inline and thread-pool scoring paths
def test_internal_error_is_a_bare_500(trained_model_dir: Path, service_logs: pytest.LogCaptureFixture,
                                      text: str) -> None:
    app = create_app(reference_settings(trained_model_dir))
    app.state.model = ExplodingModel()
    with uvicorn_thread(app) as url:
        r = httpx.post(f"{url}/predict", json={"id": "a", "text": text}, headers={"X-Request-ID": "fail-1"})
        health = httpx.get(f"{url}/health")
        metrics = httpx.get(f"{url}/metrics").text
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "request_id": "fail-1"}
    assert r.headers["x-request-id"] == "fail-1"
    assert "boom" not in r.text and "Traceback" not in r.text
    assert health.status_code == 200
    assert 'clfwatch_service_requests_total{method="POST",path="/predict",status="500"} 1.0' in metrics

    assert "status=500" in access_record(service_logs, "fail-1").getMessage()
    errors = [r for r in service_logs.records if r.levelno >= logging.ERROR and r.name == "service.app"]
    assert len(errors) == 1
    assert "request_id=fail-1" in errors[0].getMessage()
    logged = all_log_text(service_logs)
    assert "Traceback" in logged and SECRET_DETAIL in logged
    assert text not in logged
