"""GET /metrics: the agreed names, exact counts, bounded label values, no redirect."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.model import load_model
from tests.reference import reference_service


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_requests_by_route_and_status(trained_model_dir: Path) -> None:
    with reference_service(trained_model_dir) as url, httpx.Client(base_url=url, follow_redirects=False) as c:
        for i in range(7):
            assert c.post("/predict", json={"id": str(i), "text": "hi"}).status_code == 200
        for _ in range(3):
            assert c.post("/predict", json={"id": 1}).status_code == 422
        assert c.get("/health").status_code == 200
        for i in range(40):  # many distinct unknown paths must not create many series
            assert c.get(f"/unknown/{i}").status_code == 404
        r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)

    def total(method: str, path: str, status: str) -> float:
        key = ("clfwatch_service_requests_total", (("method", method), ("path", path), ("status", status)))
        return samples.get(key, 0.0)

    assert total("POST", "/predict", "200") == 7
    assert total("POST", "/predict", "422") == 3
    assert total("GET", "/health", "200") == 1
    assert total("GET", "other", "404") == 40
    paths = {dict(lab).get("path") for name, lab in samples if name == "clfwatch_service_requests_total"}
    assert paths == {"/predict", "/health", "other"}
    count = samples[("clfwatch_service_request_duration_seconds_count", (("path", "/predict"),))]
    assert count == 10
    assert samples[("clfwatch_service_requests_in_flight", ())] == 1  # the /metrics request itself
    version = load_model(trained_model_dir).version
    assert samples[("clfwatch_service_model_info", (("version", version),))] == 1


def test_metrics_plain_path_does_not_redirect(service_url: str) -> None:
    r = httpx.get(f"{service_url}/metrics", follow_redirects=False)
    assert r.status_code == 200
    assert "clfwatch_service_requests_total" in r.text
    assert httpx.get(f"{service_url}/metrics/", follow_redirects=False).status_code == 404
