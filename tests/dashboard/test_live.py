"""Live metrics: Prometheus values parsed, the page off without a URL, real numbers with one.

The end-to-end test runs the reference service (uvicorn, in this process), a real prober
(``clfwatch probe run`` in a subprocess) and the Debian ``prometheus`` scraping both.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.live import LiveError, LiveMetrics, fetch_live, instant_value, series_frame
from service.data import DATA_DIR
from storage.engine import session_scope
from storage.evalset import parse_eval_csv, replace_eval_set
from storage.targets import add_target
from tests.conftest import free_port
from tests.dashboard.conftest import APP_TIMEOUT_S, REPO_ROOT, clear_dashboard_caches
from tests.prom import prometheus
from tests.reference import reference_service
from tests.servers import process

PAGE = str(REPO_ROOT / "dashboard" / "app_pages" / "live.py")
OFF_TEXT = (
    "Live metrics are off: set CLFWATCH_PROMETHEUS_URL to a Prometheus that scrapes the service "
    "and the prober (jobs \"service\" and \"prober\")."
)
TRAFFIC_REQUESTS = 150  # bounded in count ...
TRAFFIC_MAX_S = 20.0  # ... and in time
SAMPLES_WAIT_S = 45.0  # Prometheus' first sample comes ~6 s after start; rates need two


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([], []),
        ([{"metric": {}, "values": []}], []),
        ([{"metric": {}, "values": [[1700000000, "1.5"], [1700000001, "2"]]}], [1.5, 2.0]),
        # Prometheus spells non-numbers as strings; they are dropped, not plotted
        ([{"metric": {}, "values": [[1700000000, "NaN"], [1700000001, "+Inf"], [1700000002, "0.25"]]}],
         [0.25]),
        ([{"metric": {}, "values": [[1700000000.5, "oops"], [1700000001, None]]}], []),
        # only the first series counts (the queries aggregate to one)
        ([{"metric": {}, "values": [[1700000000, "3"]]},
          {"metric": {}, "values": [[1700000000, "9"]]}], [3.0]),
    ],
)
def test_series_frame(result: list[dict[str, object]], expected: list[float]) -> None:
    frame = series_frame(result)  # type: ignore[arg-type]
    assert list(frame.columns) == ["time", "value"]
    assert frame["value"].tolist() == expected
    if expected:
        assert frame["time"].iloc[0] >= datetime(2023, 11, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([], None),
        ([{"metric": {}, "value": [1700000000, "0.5"]}], 0.5),
        ([{"metric": {}, "value": [1700000000, "NaN"]}], None),
        ([{"metric": {}, "value": [1700000000, "-Inf"]}], None),
        ([{"metric": {}, "value": [1700000000]}], None),
        ([{"metric": {}}], None),
    ],
)
def test_instant_value(result: list[dict[str, object]], expected: float | None) -> None:
    assert instant_value(result) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("minutes", [0, -5])
def test_fetch_live_refuses_empty_windows(minutes: int) -> None:
    with pytest.raises(ValueError):
        fetch_live("http://127.0.0.1:9", minutes=minutes)


def test_fetch_live_unreachable_is_a_short_error() -> None:
    with pytest.raises(LiveError) as exc:
        fetch_live(f"http://127.0.0.1:{free_port()}", minutes=5)
    assert str(exc.value) == "Prometheus did not answer; check CLFWATCH_PROMETHEUS_URL"


# --- the page without Prometheus --------------------------------------------------------


@pytest.fixture
def live_env(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("CLFWATCH_PROMETHEUS_URL", "CLFWATCH_EVIDENTLY_URL", "CLFWATCH_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", sqlite_url)
    clear_dashboard_caches()
    yield sqlite_url
    clear_dashboard_caches()


def test_live_page_off_without_url_says_how_in_one_line(live_env: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    assert [i.value for i in at.info] == [OFF_TEXT]
    assert len(at.metric) == 0 and len(at.get("plotly_chart")) == 0 and len(at.warning) == 0


def test_live_page_with_prometheus_down_shows_no_internals(
    live_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLFWATCH_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    clear_dashboard_caches()
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Prometheus did not answer; check CLFWATCH_PROMETHEUS_URL"]
    assert len(at.metric) == 0


# --- end to end: reference service + prober + Prometheus --------------------------------


@dataclass(frozen=True)
class LiveStack:
    prometheus_url: str
    service_url: str
    service_requests: int  # answered requests sent to the service by the test itself


def _send_traffic(service_url: str) -> int:
    """Predict requests and a few client errors, bounded in count and time."""
    sent = 0
    deadline = time.monotonic() + TRAFFIC_MAX_S
    with httpx.Client(base_url=service_url, timeout=5.0) as client:
        for i in range(TRAFFIC_REQUESTS):
            if time.monotonic() > deadline:
                break
            if i % 10 == 9:
                client.post("/predict", content=b"{not json", headers={"Content-Type": "application/json"})
            else:
                client.post("/predict", json={"id": f"live-{i}", "text": f"hello bot number {i}"})
            sent += 1
            time.sleep(0.02)
    return sent


def _wait_for_rates(url: str) -> LiveMetrics:
    deadline = time.monotonic() + SAMPLES_WAIT_S
    live = fetch_live(url, minutes=5)
    while time.monotonic() < deadline:
        service, prober = live.sources["service"], live.sources["prober"]
        if (service.current_request_rate_per_s or 0) > 0 and (prober.current_request_rate_per_s or 0) > 0:
            return live
        time.sleep(1.0)
        live = fetch_live(url, minutes=5)
    return live


@pytest.fixture
def live_stack(
    trained_model_dir: Path, sqlite_url: str, tmp_path: Path  # noqa: F811 - the imported fixture
) -> Iterator[LiveStack]:
    with session_scope(sqlite_url) as session:
        samples = parse_eval_csv((DATA_DIR / "eval_labelled.csv").read_text(encoding="utf-8"))
        replace_eval_set(session, samples)
    with reference_service(trained_model_dir) as service_url:
        with session_scope(sqlite_url) as session:
            add_target(session, name="reference", base_url=service_url)
        prober_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
        env.update(
            CLFWATCH_DATABASE_URL=sqlite_url,
            CLFWATCH_PROBE_INTERVAL_S="1",
            CLFWATCH_PROBE_METRICS_PORT=str(prober_port),
            CLFWATCH_LOG_LEVEL="WARNING",
        )
        cmd = [sys.executable, "-m", "clfwatch.cli", "probe", "run"]
        with process(cmd, env=env, cwd=tmp_path, ready_url=f"http://127.0.0.1:{prober_port}/metrics",
                     log_path=tmp_path / "prober.log"):
            host = service_url.removeprefix("http://")
            jobs = {"service": [host], "prober": [f"127.0.0.1:{prober_port}"]}
            with prometheus(jobs, tmp_path / "prometheus") as prometheus_url:
                sent = _send_traffic(service_url)
                yield LiveStack(prometheus_url, service_url, sent)


def _number(text: str) -> float:
    return float(text.split()[0])


def test_live_page_shows_real_numbers_from_prometheus(
    live_stack: LiveStack, live_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _wait_for_rates(live_stack.prometheus_url)
    service, prober = live.sources["service"], live.sources["prober"]
    assert service.current_request_rate_per_s and service.current_request_rate_per_s > 0
    assert prober.current_request_rate_per_s and prober.current_request_rate_per_s > 0
    assert service.current_p95_latency_s is not None and 0 < service.current_p95_latency_s < 5
    assert service.current_error_share is not None and service.current_error_share == 0.0  # 4xx is no error
    assert prober.current_error_share is not None and 0.0 <= prober.current_error_share <= 1.0

    monkeypatch.setenv("CLFWATCH_PROMETHEUS_URL", live_stack.prometheus_url)
    clear_dashboard_caches()
    at = AppTest.from_file(PAGE, default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception
    numbers = {m.label: m.value for m in at.metric}
    assert _number(numbers["Reference service request rate"]) > 0
    assert numbers["Reference service request rate"].endswith("req/s")
    assert numbers["Reference service error rate (5xx share)"] == "0.0 %"
    assert _number(numbers["Reference service p95 latency"]) > 0
    assert _number(numbers["Prober probe rate"]) > 0
    assert set(numbers) == {
        "Reference service request rate", "Reference service error rate (5xx share)",
        "Reference service p95 latency", "Prober probe rate", "Prober failed-probe share",
        "Prober p95 latency",
    }
    assert len(at.get("plotly_chart")) == 6
    assert not at.info and not at.warning

    at.selectbox(key="live_minutes").set_value(5).run()
    assert not at.exception
    assert _number({m.label: m.value for m in at.metric}["Reference service request rate"]) > 0
