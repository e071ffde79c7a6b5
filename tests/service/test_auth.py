"""The optional bearer token: /predict demands it, /health and /metrics stay open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reference import reference_service

API_KEY = "tok-4c9e1f7a-reference-tests"
BODY = {"id": "a", "text": "hello"}


@pytest.fixture(scope="module")
def keyed_url(trained_model_dir: Path) -> Iterator[str]:
    with reference_service(trained_model_dir, api_key=API_KEY) as url:
        yield url


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {API_KEY}x"},
    {"Authorization": f"Bearer {API_KEY[:-1]}"},
    {"Authorization": f"Basic {API_KEY}"},
    {"Authorization": API_KEY},
    {"X-Api-Key": API_KEY},
], ids=["none", "empty", "scheme-only", "wrong", "longer", "shorter", "basic", "bare", "other-header"])
def test_predict_without_the_right_token_is_401(keyed_url: str, headers: dict[str, str]) -> None:
    r = httpx.post(f"{keyed_url}/predict", json=BODY, headers=headers)
    assert r.status_code == 401
    assert r.json() == {"detail": "missing or invalid bearer token"}
    assert r.headers["www-authenticate"] == "Bearer"
    assert API_KEY not in r.text


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_predict_with_the_token_is_served(keyed_url: str, scheme: str) -> None:
    r = httpx.post(f"{keyed_url}/predict", json=BODY, headers={"Authorization": f"{scheme} {API_KEY}"})
    assert r.status_code == 200
    assert r.json()["id"] == "a"


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_health_and_metrics_stay_open(keyed_url: str, path: str) -> None:
    assert httpx.get(f"{keyed_url}{path}").status_code == 200


def test_open_service_needs_no_token(service_url: str) -> None:
    assert httpx.post(f"{service_url}/predict", json=BODY).status_code == 200


def test_placeholder_key_is_refused(trained_model_dir: Path) -> None:
    from pydantic import ValidationError

    with (
        pytest.raises(ValidationError, match="placeholder"),
        reference_service(trained_model_dir, api_key="changeme"),
    ):
        pass
