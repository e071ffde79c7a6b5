"""openai-chat targets on the pages, in Chromium: the LLM board on the scoreboard, an LLM target's
team page (speed, failed chat probes with their schema reasons, key enforcement in red when anyone
can use the service) and its My team page. Real ``clfwatch dashboard`` over a seeded SQLite file:
the shared seed's classifiers plus two openai-chat targets with 48 h of probes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from storage.engine import engine_for, session_scope, upgrade_database
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target, issue_team_key
from tests.dashboard.conftest import (
    SEED_HISTORY,
    SEED_PROBE_STEP,
    SeededDashboard,
    seed_dashboard_db,
)
from tests.dashboard.test_e2e_browser import RENDER_TIMEOUT_MS
from tests.dashboard.test_pages_fit_browser import (
    CELLS_JS,
    OVERFLOW_JS,
    SETTLED,
    VIEWPORT,
    png_size,
    settle,
    shot,
)
from tests.servers import dashboard_server

OPEN = "chat-open-team"  # answers without a key; every 12th chat probe a broken stream
LOCKED = "chat-locked-team"  # refuses requests without its key; tokens counted from chunks
LLM_KEY = "cu_prodml_hw_week13-SEKRET-5d2e"  # the open target's bearer key: never shown
SCHEMA_REASON = 'choices[0].delta.role: expected "assistant"'
MODEL = "tiny-chat-1"
AUTH_FIX = "it must answer 401 or 403 unless the request carries the service's key"  # the prober's words
# A data grid draws its headers on a canvas; its accessible table holds their names.
HEADERS_JS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"] [role="columnheader"]')]
  .map(c => c.innerText.trim())"""


@dataclass(frozen=True)
class LlmPages:
    base: str
    seeded: SeededDashboard
    team_key: str  # the open target's team key, for My team


def _chat(target_id: int, at: datetime, *, ttft_ms: float, source: str, broken: bool) -> ProbeRow:
    if broken:  # answered 200, but the stream breaks the format: not timed, a schema reason stored
        return ProbeRow(str(uuid.uuid4()), target_id, "chat", at, "bad_body", 200, 700.0,
                        detail=f"{SCHEMA_REASON} (sent with Bearer {LLM_KEY})")
    return ProbeRow(str(uuid.uuid4()), target_id, "chat", at, "ok", 200, ttft_ms + 15 * 40.0,
                    ttft_ms=ttft_ms, itl_ms=40.0, tokens_per_s=25.0, output_tokens=16, tokens_source=source)


def _seed_llm(url: str, seeded: SeededDashboard) -> str:
    now = seeded.now
    gap_start, gap_end = seeded.gap
    with session_scope(url) as session:
        ids = {}
        for name, token in ((OPEN, LLM_KEY), (LOCKED, None)):
            ids[name] = add_target(session, name=name, base_url="http://127.0.0.1:9", kind="openai-chat",
                                   model=MODEL, token=token, registered_at=now - timedelta(days=3)).id
        rows: list[ProbeRow] = []
        at, step = now - SEED_HISTORY, 0
        while at < now - timedelta(minutes=1):
            if not (gap_start - SEED_PROBE_STEP < at < gap_end):
                for name in (OPEN, LOCKED):
                    rows.append(ProbeRow(str(uuid.uuid4()), ids[name], "health", at, "ok", 200, 5.0))
                    rows.append(_chat(ids[name], at + timedelta(seconds=1),
                                      ttft_ms=300.0 if name == OPEN else 150.0,
                                      source="usage" if name == OPEN else "chunks",
                                      broken=name == OPEN and step % 12 == 5))
                if step % 6 == 0:  # the hourly key-enforcement check: no key, then a wrong key
                    for i, (which, refused) in enumerate((("a request without a key", "401"),
                                                          ("a wrong key", "401"))):
                        check_at = at + timedelta(seconds=2 + i)
                        rows.append(ProbeRow(str(uuid.uuid4()), ids[OPEN], "auth", check_at,
                                             "auth_not_enforced", 200, 20.0,
                                             detail=f"accepted {which}: {AUTH_FIX}"))
                        rows.append(ProbeRow(str(uuid.uuid4()), ids[LOCKED], "auth", check_at, "ok", 401,
                                             20.0, detail=f"refused {which} ({refused})"))
            at += SEED_PROBE_STEP
            step += 1
        record_probes(session, rows)
        return issue_team_key(session, OPEN, actor="admin")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmPages]:
    folder = tmp_path_factory.mktemp("llm-pages")
    url = f"sqlite:///{folder / 'clfwatch.db'}"
    upgrade_database(url)
    seeded = seed_dashboard_db(url)
    team_key = _seed_llm(url, seeded)
    with dashboard_server(url, folder, hidden=[LLM_KEY]) as base:
        yield LlmPages(base, seeded, team_key)
    engine_for(url).dispose()



def fits(page: Page) -> None:
    """No horizontal scrolling, no cell reading None, no key on the page."""
    assert page.locator("[data-testid='stException']").count() == 0
    found = page.evaluate(OVERFLOW_JS)
    assert found["scrollWidth"] <= found["innerWidth"] and found["wide"] == [], found
    cells = page.evaluate(CELLS_JS)
    assert "None" not in cells and "nan" not in cells
    assert LLM_KEY not in page.content()


def test_scoreboard_shows_the_llm_board(pages: LlmPages, page: Page, tmp_path: Path) -> None:
    settle(page, "/", pages.base)
    page.wait_for_selector("text=LLM endpoints (openai-chat)", timeout=RENDER_TIMEOUT_MS)
    body = page.inner_text("[data-testid='stMain']")
    assert "Classifiers" in body and "LLM leader" in body
    # the grids lay out after the script's run: wait for the LLM grid's headers and both grids' cells
    page.wait_for_function(f"() => ({HEADERS_JS})().includes('TTFT pts')", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function(f"() => ({CELLS_JS})().includes('classifier')", timeout=RENDER_TIMEOUT_MS)
    cells = page.evaluate(CELLS_JS)
    headers = page.evaluate(HEADERS_JS)
    for text in ("TTFT p95 (ms)", "TTFT pts", "tokens/s", "tokens from", "uptime (%)", "200-rate (%)"):
        assert text in headers, (text, headers)
    for text in (OPEN, LOCKED, "openai-chat", "usage", "chunks", "300", "150", "25", "total", "1.286"):
        assert text in cells, (text, cells)
    # ranks count within a board: the classifiers' leader and the LLMs' leader are both rank 1
    assert body.index(pages.seeded.healthy) < body.index("LLM endpoints")
    fits(page)
    path = shot(page, tmp_path, "scoreboard-llm")
    assert png_size(path)[1] > VIEWPORT["height"]


def test_team_page_of_an_open_llm_target(pages: LlmPages, page: Page, tmp_path: Path) -> None:
    settle(page, f"/team?target={OPEN}", pages.base)
    page.wait_for_selector("text=Key not enforced", timeout=RENDER_TIMEOUT_MS)
    banner = page.locator("[data-testid='stAlertContentError']", has_text="Key not enforced")
    assert banner.count() == 1
    text = banner.inner_text()
    assert "answered HTTP 200 to a request without your key or with a wrong one" in text and "anyone" in text
    assert "--api-key" in text and "master_key" in text and "401" in text
    assert "accepted a request without a key" in text and "accepted a wrong key" in text
    body = page.inner_text("body")
    for part in ("openai-chat", "TTFT p50", "TTFT p95", "Inter-token latency", "Tokens per second",
                 "End-to-end", "Uptime (graded)", "200-rate (graded)", "counted by your server",
                 f"model {MODEL}", "Time to first token of ok chat answers",
                 "200-rate per hour (chat probes)", "Failed chat probes", "openai-chat target, rank",
                 "ttft input"):
        assert part in body, part
    assert "300 ms" in body and "40 ms" in body and "25.0" in body  # TTFT, inter-token, tokens/s
    page.wait_for_function(f"() => ({CELLS_JS})().some(c => c.startsWith('choices[0]'))",
                           timeout=RENDER_TIMEOUT_MS)  # the grids lay out after the script's run
    cells = page.evaluate(CELLS_JS)
    reasons = [c for c in cells if c.startswith(SCHEMA_REASON)]
    assert reasons and all("<token>" in c for c in reasons), reasons[:2]  # the key, redacted
    for key in ("heartbeat_strip", "latency_chart", "uptime_chart", "rate200_chart"):
        assert page.locator(f".st-key-{key} .js-plotly-plot").count() == 1, key
    assert page.locator(".st-key-roc_chart").count() == 0  # no AUC for an LLM
    lanes = page.evaluate("() => document.querySelector('.st-key-heartbeat_strip .js-plotly-plot').data[0].y")
    assert list(lanes) == ["health", "chat"]
    fits(page)
    path = shot(page, tmp_path, "team-llm-open")
    assert png_size(path)[1] > VIEWPORT["height"]


def test_team_page_of_a_locked_llm_target(pages: LlmPages, page: Page) -> None:
    settle(page, f"/team?target={LOCKED}", pages.base)
    page.wait_for_selector("text=Key enforced", timeout=RENDER_TIMEOUT_MS)
    assert page.locator("[data-testid='stAlertContentError']", has_text="Key not enforced").count() == 0
    body = page.inner_text("body")
    assert "both refused (HTTP 401)" in body and "counted by clfwatch from the content chunks" in body
    assert "150 ms" in body and "No failed chat probes in this window." in body
    fits(page)


def test_my_team_of_an_open_llm_target(pages: LlmPages, page: Page, tmp_path: Path) -> None:
    settle(page, "/my_team", pages.base)
    field = page.get_by_label("Team key", exact=True)
    field.fill(pages.team_key)
    field.press("Tab")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=Key not enforced", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("text=Failed chat probes", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(SETTLED, timeout=RENDER_TIMEOUT_MS)  # the signed-in run has finished
    for part in (OPEN, "Tokens per second", "TTFT p95", "Key enforcement", "Rank"):
        # metrics come in after the rerun that signed in: wait for each, bounded
        page.get_by_text(part, exact=True).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function(f"() => ({CELLS_JS})().includes('time to first token')", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function(f"() => ({CELLS_JS})().some(c => c.startsWith('choices[0]'))",
                           timeout=RENDER_TIMEOUT_MS)
    assert pages.team_key not in page.content() and LLM_KEY not in page.content()
    shot(page, tmp_path, "my-team-llm")
