"""Fixtures for dashboard tests: a seeded database every page can be checked against.

``seed_dashboard_db`` is a plain function so benchmarks and other test folders can reuse it;
``seeded_db`` runs it on SQLite and Postgres (through ``db_url``); ``dashboard_env`` points the
settings at it and clears every cache, so one test's data never leaks into the next.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.engine import session_scope
from storage.evalset import replace_eval_set
from storage.grading import set_grading_config
from storage.probes import ProbeRow, beat_prober_session, record_probes, start_prober_session
from storage.stress import add_stress_result, create_stress_run, finish_stress_run
from storage.targets import add_target

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = str(REPO_ROOT / "dashboard" / "app.py")
APP_TIMEOUT_S = 30
ADMIN_PASSWORD = "correct-horse-battery-9"
SECRET_TOKEN = "tok-SEKRET-alpha-7f3a9c"
SEED_PROBE_STEP = timedelta(minutes=10)
SEED_HISTORY = timedelta(hours=48)
SEED_SAMPLES = 40
BASELINE_AUC = 0.5
# The ten scenario names of DESIGN.md, in order.
SCENARIO_NAMES = (
    "contract", "malformed_json", "schema_violations", "huge_payload", "unicode_edge",
    "injection", "http_abuse", "spike", "recovery", "slow_clients",
)
FAILED_SCENARIOS = ("huge_payload", "slow_clients")


@dataclass(frozen=True)
class SeededDashboard:
    """What the seeded database holds, for assertions."""

    url: str
    now: datetime  # the seeding clock; the newest probes are a few minutes before it
    targets: tuple[str, ...]  # every target name, registered 3 days before ``now``
    healthy: str  # fast, always up, good AUC
    slow: str  # slow, some 500s on predict, weak AUC
    down: str  # last health probes fail: shown as down now
    token: str  # the healthy target's bearer token: must never be shown
    sample_ids: tuple[str, ...]  # evaluation sample ids: never shown beside labels
    gap: tuple[datetime, datetime]  # a span with no prober running
    stress_target: str  # has one finished stress run
    stress_score: int  # its score out of ten
    failed_scenarios: tuple[str, ...]  # its failed scenarios


def _label(i: int) -> int:
    return i % 2


def _probability(rng: random.Random, target: str, label: int, i: int) -> float:
    """Alpha separates the classes well but not perfectly; bravo barely."""
    if target == "alpha-team":
        base = 0.75 if label else 0.25
        return min(1.0, max(0.0, base + rng.uniform(-0.3, 0.3)))
    return min(1.0, max(0.0, 0.5 + (0.08 if label else -0.08) + rng.uniform(-0.4, 0.4)))


def seed_dashboard_db(url: str, *, now: datetime | None = None) -> SeededDashboard:
    """Fill a migrated, empty database with three targets, 48 h of probes, a gap, a stress run."""
    now = now or datetime.now(UTC)
    rng = random.Random(7)
    registered_at = now - timedelta(days=3)
    names = ("alpha-team", "bravo-team", "charlie-team")
    gap_start = now - timedelta(hours=20)
    gap_end = now - timedelta(hours=18)
    sample_ids = tuple(f"ev-{i:03d}" for i in range(SEED_SAMPLES))
    with session_scope(url) as session:
        replace_eval_set(
            session, [(sid, f"evaluation text number {i}", _label(i)) for i, sid in enumerate(sample_ids)]
        )
        set_grading_config(session, baseline_auc=BASELINE_AUC)
        ids = {}
        for name in names:
            view = add_target(
                session,
                name=name,
                base_url=f"http://127.0.0.1:9/{name}" if name != "alpha-team" else "http://127.0.0.1:9",
                token=SECRET_TOKEN if name == "alpha-team" else None,
                registered_at=registered_at,
            )
            ids[name] = view.id
        first = now - SEED_HISTORY
        first_session = str(uuid.uuid4())
        start_prober_session(session, session_id=first_session, hostname="seed-a",
                             interval_s=SEED_PROBE_STEP.total_seconds(), at=first)
        beat_prober_session(session, session_id=first_session, at=gap_start - SEED_PROBE_STEP)
        second = str(uuid.uuid4())
        start_prober_session(session, session_id=second, hostname="seed-b",
                             interval_s=SEED_PROBE_STEP.total_seconds(), at=gap_end)
        beat_prober_session(session, session_id=second, at=now)
        rows: list[ProbeRow] = []
        at = first
        step = 0
        while at < now - timedelta(minutes=1):
            if not (gap_start - SEED_PROBE_STEP < at < gap_end):
                for name in names:
                    rows.extend(_probes_at(rng, name, ids[name], at, step, now, sample_ids))
            at += SEED_PROBE_STEP
            step += 1
        record_probes(session, rows)
        run_id = create_stress_run(session, target_url="http://127.0.0.1:9", target_id=ids["alpha-team"],
                                   started_at=now - timedelta(hours=2))
        for scenario in SCENARIO_NAMES:
            passed = scenario not in FAILED_SCENARIOS
            add_stress_result(session, run_id=run_id, scenario=scenario, passed=passed,
                              evidence=_evidence(scenario, passed))
        finish_stress_run(session, run_id=run_id, status="finished")
    return SeededDashboard(
        url=url, now=now, targets=names, healthy="alpha-team", slow="bravo-team", down="charlie-team",
        token=SECRET_TOKEN, sample_ids=sample_ids, gap=(gap_start, gap_end),
        stress_target="alpha-team", stress_score=len(SCENARIO_NAMES) - len(FAILED_SCENARIOS),
        failed_scenarios=FAILED_SCENARIOS,
    )


def _probes_at(
    rng: random.Random, name: str, target_id: int, at: datetime, step: int, now: datetime,
    sample_ids: tuple[str, ...],
) -> list[ProbeRow]:
    i = step % len(sample_ids)
    recent_outage = name == "charlie-team" and at > now - timedelta(minutes=35)
    if recent_outage:
        return [
            ProbeRow(str(uuid.uuid4()), target_id, "health", at, "connect_error", detail="refused"),
            ProbeRow(str(uuid.uuid4()), target_id, "predict", at + timedelta(seconds=1), "connect_error",
                     detail="refused", sample_id=sample_ids[i]),
        ]
    latency_ms = {"alpha-team": 20.0, "bravo-team": 300.0, "charlie-team": 80.0}[name]
    health = ProbeRow(str(uuid.uuid4()), target_id, "health", at, "ok", 200,
                      latency_ms * rng.uniform(0.5, 1.5))
    if name == "bravo-team" and step % 10 == 3:
        predict = ProbeRow(str(uuid.uuid4()), target_id, "predict", at + timedelta(seconds=1),
                           "http_error", 500, latency_ms * 2, detail="status 500", sample_id=sample_ids[i])
    else:
        predict = ProbeRow(
            str(uuid.uuid4()), target_id, "predict", at + timedelta(seconds=1), "ok", 200,
            latency_ms * 2 * rng.uniform(0.5, 1.5), sample_id=sample_ids[i],
            probability=_probability(rng, name, _label(i), i),
        )
    return [health, predict]


def _evidence(scenario: str, passed: bool) -> dict[str, object]:
    """The shape ``stress.evidence.ScenarioResult.evidence`` stores."""
    failure = None
    if not passed:
        failure = {
            "reason": "status 500 for a client's mistake",
            "request": {"label": scenario, "method": "POST", "url": "http://127.0.0.1:9/predict",
                        "headers": [["Content-Type", "application/json"]], "body": '{"id": "x"}'},
            "response": {"status": 500, "error": None, "latency_ms": 40.0, "content_type": "text/plain",
                         "body": "Internal Server Error"},
            "curl": "curl -sS -i --max-time 30 -X POST -H 'Content-Type: application/json' "
                    f"--data-binary '{{\"id\": \"{scenario}\"}}' http://127.0.0.1:9/predict",
        }
    return {
        "summary": f"{scenario}: all 12 answers as expected" if passed else f"{scenario}: 9 of 12 got 500",
        "requests": 12,
        "status_counts": {"200": 12} if passed else {"200": 3, "500": 9},
        "latency_ms": {"p50": 12.5, "p95": 40.0, "p99": 41.0, "max": 42.0},
        "first_failure": failure,
        "duration_s": 1.5,
        "bars": {},
    }


@pytest.fixture(scope="session", autouse=True)
def _component_scan_once() -> Iterator[None]:
    """Streamlit's scan of installed packages for v2 components, once per session, not once per AppTest.

    Every new AppTest reads the metadata of every installed distribution (about 0.16 CPU-s each);
    what is installed does not change while the tests run.
    """
    from streamlit.components.v2 import manifest_scanner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_scanner, "scan_component_manifests",
                      functools.cache(manifest_scanner.scan_component_manifests))
        yield


@pytest.fixture
def seeded_db(db_url: str) -> SeededDashboard:
    """The seeded database on SQLite and on Postgres."""
    return seed_dashboard_db(db_url)


def clear_dashboard_caches() -> None:
    """Forget settings and every Streamlit cache, so a test sees only its own database."""
    import streamlit as st

    from core.settings import get_settings
    from dashboard.db import clear_caches

    get_settings.cache_clear()
    clear_caches()  # Streamlit's data cache and the shared scoreboard
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def dashboard_env(seeded_db: SeededDashboard, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeededDashboard]:
    """Settings point at the seeded database; admin off unless a test sets the password."""
    for name in ("CLFWATCH_ADMIN_PASSWORD", "CLFWATCH_PROMETHEUS_URL", "CLFWATCH_EVIDENTLY_URL",
                 "CLFWATCH_DEFENSE_AT", "CLFWATCH_RULES_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", seeded_db.url)
    clear_dashboard_caches()
    yield seeded_db
    clear_dashboard_caches()


@pytest.fixture
def admin_env(dashboard_env: SeededDashboard, monkeypatch: pytest.MonkeyPatch) -> SeededDashboard:
    """As ``dashboard_env``, with the admin password set to ``ADMIN_PASSWORD``."""
    monkeypatch.setenv("CLFWATCH_ADMIN_PASSWORD", ADMIN_PASSWORD)
    clear_dashboard_caches()
    return dashboard_env
