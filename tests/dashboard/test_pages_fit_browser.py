"""Every page at 1280x800 in Chromium: no horizontal scrolling, no table cell reading "None";
screenshots of the team page for a target registered 10 minutes ago and for one with 7 days.

Real ``clfwatch dashboard`` on loopback over a seeded SQLite file (the shared seed plus: a fresh
target, a week-old one, one that never answered, two long names that differ only at the end, a
run against an unregistered URL, a real Evidently report of a model change, and one of the reference
service's traffic, made by ``drift run --traffic``'s own function).
"""

from __future__ import annotations

import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from core.settings import Settings
from drift.model_changes import ModelChange
from drift.reports import _store_report
from drift.traffic import read_texts, run_traffic_drift
from storage.engine import engine_for, session_scope, upgrade_database
from storage.probes import ProbeRow, beat_prober_session, record_probes, start_prober_session
from storage.stress import add_stress_result, create_stress_run, finish_stress_run
from storage.targets import add_target, get_target
from storage.traffic import add_traffic_texts
from tests.dashboard.conftest import REPO_ROOT, SCENARIO_NAMES, SeededDashboard, seed_dashboard_db
from tests.dashboard.test_e2e_browser import RENDER_TIMEOUT_MS
from tests.servers import dashboard_server

VIEWPORT = {"width": 1280, "height": 800}
FRESH = "fresh-team"  # registered 10 minutes ago, probed every 10 s, a 3-minute predict outage
WEEK = "week-team"  # 7 days of probes every 10 minutes
NEVER_UP = "never-up-team"  # every probe refused: 0 % uptime
# Two course names that differ only at their ends: both must stay readable in full.
LONG_A = "PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ_СИДОРОВ_КУЗНЕЦОВ|text-classifier-service-alpha"
LONG_B = "PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ_СИДОРОВ_КУЗНЕЦОВ|text-classifier-service-omega"
ADHOC_URL = "http://127.0.0.1:9/adhoc-service"
TRAFFIC_TEXTS = 150  # in the reference service's ring: over drift run --traffic's minimum of 100
PAGES = ("/", "/team?target=bravo-team", f"/team?target={FRESH}", f"/team?target={NEVER_UP}", "/stress",
         "/drift", "/live", "/register", "/my_team", "/admin")
# The page's own script has finished its run: every element is on the page.
SETTLED = "[data-testid='stApp'][data-test-script-state='notRunning']"
OVERFLOW_JS = """() => ({
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  wide: [...document.querySelectorAll('[data-testid="stElementContainer"]')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => (e.innerText || e.className).slice(0, 80)),
})"""
CELLS_JS = """() => [...document.querySelectorAll(
  '[data-testid="stTable"] td, [data-testid="stTable"] th, [data-testid="stDataFrame"] td, '
  + '[data-testid="stDataFrame"] [role="gridcell"]')].map(c => c.innerText.trim())"""


@dataclass(frozen=True)
class Pages:
    base: str
    seeded: SeededDashboard


def _probe(target_id: int, kind: str, at: datetime, outcome: str = "ok", latency_ms: float = 30.0,
           **fields: object) -> ProbeRow:
    ok = outcome == "ok"
    status = 200 if ok else fields.pop("status", None)
    fields.pop("status", None)
    return ProbeRow(str(uuid.uuid4()), target_id, kind, at, outcome, status,  # type: ignore[arg-type]
                    latency_ms if ok else None, **fields)  # type: ignore[arg-type]


def _seed_more(url: str, seeded: SeededDashboard, html_dir: Path) -> None:
    now = seeded.now
    rng = random.Random(11)
    samples = seeded.sample_ids
    with session_scope(url) as session:
        fresh = add_target(session, name=FRESH, base_url="http://127.0.0.1:9/fresh",
                           registered_at=now - timedelta(minutes=10)).id
        week = add_target(session, name=WEEK, base_url="http://127.0.0.1:9/week",
                          registered_at=now - timedelta(days=8)).id
        never = add_target(session, name=NEVER_UP, base_url="http://127.0.0.1:9/never",
                           registered_at=now - timedelta(hours=2)).id
        for name in (LONG_A, LONG_B):
            add_target(session, name=name, base_url="http://127.0.0.1:9/long",
                       registered_at=now - timedelta(days=1))
        old = str(uuid.uuid4())  # the prober ran for the week before the shared seed's sessions
        start_prober_session(session, session_id=old, hostname="seed-old", interval_s=600,
                             at=now - timedelta(days=8))
        beat_prober_session(session, session_id=old, at=now - timedelta(hours=48))
        rows: list[ProbeRow] = []
        at, i = now - timedelta(minutes=10), 0
        while at < now - timedelta(seconds=5):
            outage = now - timedelta(minutes=6) <= at < now - timedelta(minutes=3)
            rows.append(_probe(fresh, "health", at, latency_ms=rng.uniform(5, 15)))
            rows.append(_probe(fresh, "predict", at + timedelta(seconds=1),
                               "timeout" if outage else "ok", rng.uniform(20, 120),
                               sample_id=samples[i % len(samples)],
                               probability=None if outage else rng.random()))
            at, i = at + timedelta(seconds=10), i + 1
        at, i = now - timedelta(days=7), 0
        while at < now - timedelta(minutes=1):
            slow_day = (now - at) < timedelta(days=2)
            label = i % len(samples) % 2
            rows.append(_probe(week, "health", at, latency_ms=rng.uniform(5, 15)))
            rows.append(_probe(week, "predict", at + timedelta(seconds=1),
                               "http_error" if i % 17 == 0 else "ok",
                               rng.uniform(200, 900) if slow_day else rng.uniform(20, 80), status=500,
                               sample_id=samples[i % len(samples)],
                               probability=min(1.0, max(0.0, 0.3 + 0.4 * label + rng.uniform(-0.3, 0.3)))))
            at, i = at + timedelta(minutes=10), i + 1
        at = now - timedelta(minutes=100)
        while at < now - timedelta(seconds=30):
            rows.append(_probe(never, "health", at, "connect_error", detail="refused"))
            rows.append(_probe(never, "predict", at, "connect_error", detail="refused", sample_id=samples[0]))
            at += timedelta(minutes=2)
        record_probes(session, rows)
        run_id = create_stress_run(session, target_url=ADHOC_URL, target_id=None,
                                   started_at=now - timedelta(hours=1))
        for scenario in SCENARIO_NAMES:
            add_stress_result(session, run_id=run_id, scenario=scenario, passed=scenario != "spike",
                              evidence={"summary": f"{scenario}: checked", "requests": 5,
                                        "detail": {"long": "x" * 400}})
        finish_stress_run(session, run_id=run_id, status="finished")
    # A real Evidently report of a model change of the healthy target, stored as drift run does.
    text_rng = random.Random(5)
    ids = [f"s{i}" for i in range(30)]
    change = ModelChange(
        at=now - timedelta(hours=2), samples=len(ids), share_changed=1.0, mean_abs_delta=0.4,
        before={s: text_rng.uniform(0, 0.4) for s in ids}, after={s: text_rng.uniform(0.6, 1) for s in ids},
        before_from=now - timedelta(hours=6), after_to=now - timedelta(hours=1),
    )
    with session_scope(url) as session:
        target = get_target(session, seeded.healthy)
    _store_report(url, target, change, 0.9, 0.6, html_dir=html_dir, pusher=None, now=now)
    # A traffic report: the ring holds 150 training texts, compared with train.csv as the CLI does.
    train_csv = REPO_ROOT / "service" / "data" / "train.csv"
    texts = read_texts(train_csv)[:TRAFFIC_TEXTS]
    with session_scope(url) as session:
        received = [(now - timedelta(minutes=len(texts) - i), text) for i, text in enumerate(texts)]
        add_traffic_texts(session, received, keep=len(texts))
    run_traffic_drift(Settings(database_url=url, drift_dir=html_dir, evidently_url=None), train_csv=train_csv,
                      now=now)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    folder = tmp_path_factory.mktemp("fit")
    url = f"sqlite:///{folder / 'clfwatch.db'}"
    upgrade_database(url)
    seeded = seed_dashboard_db(url)
    _seed_more(url, seeded, folder)
    with dashboard_server(url, folder) as base:
        yield Pages(base, seeded)
    engine_for(url).dispose()



def settle(page: Page, path: str, base: str) -> None:
    page.goto(base + path)
    page.wait_for_selector("h1", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(SETTLED, timeout=RENDER_TIMEOUT_MS)
    page.wait_for_timeout(1500)  # plotly and the data grids lay out after the script's run


# Streamlit scrolls inside its main container, not the document, so Playwright's full_page
# sees only the viewport: the page's real height is the container's scrollHeight.
CONTENT_HEIGHT_JS = """() => Math.max(...['stMain', 'stAppViewContainer']
    .map(id => document.querySelector(`[data-testid='${id}']`))
    .filter(Boolean).map(el => el.scrollHeight), document.documentElement.scrollHeight)"""
MAX_SHOT_HEIGHT = 16_000


def shot(page: Page, tmp_path: Path, name: str) -> Path:
    """A screenshot of the whole page, top to bottom: the viewport grows to the content's height."""
    path = tmp_path / f"{name}.png"
    height = min(int(page.evaluate(CONTENT_HEIGHT_JS)), MAX_SHOT_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, VIEWPORT["height"])})
    page.wait_for_timeout(500)  # plotly relayouts on resize
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    assert path.stat().st_size > 10_000
    assert png_size(path) == (VIEWPORT["width"], max(height, VIEWPORT["height"]))
    return path


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


@pytest.mark.parametrize("path", PAGES)
def test_every_page_fits_1280_and_shows_no_none(pages: Pages, page: Page, path: str, tmp_path: Path) -> None:
    settle(page, path, pages.base)
    assert page.locator("[data-testid='stException']").count() == 0
    found = page.evaluate(OVERFLOW_JS)
    shot(page, tmp_path, "page")
    assert found["scrollWidth"] <= found["innerWidth"], (path, found)
    assert found["wide"] == [], (path, found["wide"])
    cells = page.evaluate(CELLS_JS)
    assert "None" not in cells and "nan" not in cells, (path, [c for c in cells if c in ("None", "nan")])
    assert pages.seeded.token not in page.content()


def one_chart(page: Page, selector: str) -> bool:
    """Exactly one plotly chart at ``selector``, waiting for it: plotly draws after the script ran."""
    page.locator(selector).first.wait_for(state="attached", timeout=30_000)
    return page.locator(selector).count() == 1


def test_scoreboard_names_that_differ_at_the_end_stay_apart(pages: Pages, page: Page) -> None:
    settle(page, "/", pages.base)
    body = page.inner_text("[data-testid='stMain']")
    assert LONG_A in body and LONG_B in body  # whole, on the page, not cut to a common prefix


def test_team_page_of_a_target_registered_ten_minutes_ago(pages: Pages, page: Page, tmp_path: Path) -> None:
    settle(page, f"/team?target={FRESH}", pages.base)
    body = page.inner_text("body")
    assert "charts per minute" in body and "(since registration)" in body
    assert one_chart(page, ".st-key-heartbeat_strip .js-plotly-plot")
    assert one_chart(page, ".st-key-latency_chart .js-plotly-plot")
    assert one_chart(page, ".st-key-uptime_chart .js-plotly-plot")
    assert one_chart(page, ".st-key-rate200_chart .js-plotly-plot")
    # one cell per probe (about 60 in 10 minutes at 10 s), red where the predict outage was
    cells = page.evaluate("""() => document.querySelector('.st-key-heartbeat_strip .js-plotly-plot')
                                .data[0].z.map(row => row.filter(v => v !== null).length)""")
    assert all(55 <= n <= 61 for n in cells), cells
    path = shot(page, tmp_path, "team-fresh")
    assert png_size(path)[1] > VIEWPORT["height"]  # the whole page, every chart, not the first screen


def test_team_page_of_a_week_of_history(pages: Pages, page: Page, tmp_path: Path) -> None:
    page.goto(pages.base + f"/team?target={WEEK}")
    page.wait_for_selector(SETTLED, timeout=RENDER_TIMEOUT_MS)
    page.get_by_text("last 7 days").click()
    page.wait_for_selector("text=charts per hour", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(SETTLED, timeout=RENDER_TIMEOUT_MS)
    page.wait_for_timeout(1500)
    for key in ("heartbeat_strip", "latency_chart", "uptime_chart", "rate200_chart", "auc_days_chart",
                "roc_chart"):
        assert page.locator(f".st-key-{key} .js-plotly-plot").count() == 1, key
    days = page.evaluate("""() => document.querySelector('.st-key-auc_days_chart .js-plotly-plot')
                               .data[0].x.length""")
    assert days >= 7
    path = shot(page, tmp_path, "team-week")
    assert png_size(path)[1] > VIEWPORT["height"]  # the whole page, every chart, not the first screen


def test_drift_page_traffic_report_opened_still_fits(pages: Pages, page: Page) -> None:
    settle(page, "/drift", pages.base)
    body = page.inner_text("[data-testid='stMain']")
    assert "Reference service traffic vs training data" in body and "No traffic report yet" not in body
    page.get_by_text("Evidently report of the traffic run at").click()
    report = page.locator("[data-testid='stExpander'] iframe").first
    report.wait_for(state="visible", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_timeout(1500)
    found = page.evaluate(OVERFLOW_JS)
    assert found["scrollWidth"] <= found["innerWidth"], found
    assert found["wide"] == [], found["wide"]
