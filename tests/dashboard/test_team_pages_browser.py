"""A team registers on the Register page and signs in on My team: real ``clfwatch dashboard``, Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from storage.engine import engine_for, session_scope, upgrade_database
from storage.models import AlertChannel, Target
from tests.dashboard.test_e2e_browser import RENDER_TIMEOUT_MS, fill
from tests.servers import dashboard_server

CODE = "course-code-b7e1"
# Cyrillic, the course's "|", and markdown that must show as typed, not as emphasis.
TEAM_NAME = "PROD_ML_FALL_25|ИВАНОВ_*ПЕТРОВ*"
NEW_URL = "http://127.0.0.1:9/moved"

VIEWPORT = {"width": 1400, "height": 1800}  # the page fixture's (tests/conftest.py)


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('team-pages') / 'clfwatch.db'}"
    upgrade_database(url)
    yield url
    engine_for(url).dispose()


@pytest.fixture(scope="module")
def dashboard_url(db_file: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dashboard_server(db_file, tmp_path_factory.mktemp("team-pages-log"), hidden=[CODE],
                          CLFWATCH_REGISTRATION_CODE=CODE,
                          CLFWATCH_SELF_SERVICE_NETWORKS="127.0.0.0/8") as base:
        yield base



def test_register_then_sign_in_on_my_team(dashboard_url: str, db_file: str, page: Page,
                                          tmp_path: Path) -> None:
    page.goto(dashboard_url + "/register")
    page.wait_for_selector("text=Register your team", timeout=RENDER_TIMEOUT_MS)
    fill(page, "Team name", TEAM_NAME)
    fill(page, "Base URL of your service", "http://127.0.0.1:9")
    fill(page, "Registration code (from your instructor)", "wrong-code")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("text=wrong registration code", timeout=RENDER_TIMEOUT_MS)

    fill(page, "Registration code (from your instructor)", CODE)
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("text=Your team key", timeout=RENDER_TIMEOUT_MS)
    body = page.inner_text("body")
    assert f"Registered {TEAM_NAME}" in body  # markdown shown as typed
    key = page.locator("[data-testid='stCode'] code").first.inner_text().strip()
    assert len(key) >= 32
    with session_scope(db_file) as session:
        stored = session.scalars(select(Target)).one()
        assert stored.name == TEAM_NAME and stored.self_service is True
        assert key not in (stored.key_hash or "")

    page.goto(dashboard_url + "/my_team")
    page.wait_for_selector("text=Team key", timeout=RENDER_TIMEOUT_MS)
    fill(page, "Team key", "not-the-key")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=missing or unknown team key", timeout=RENDER_TIMEOUT_MS)
    fill(page, "Team key", key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=Changes to your target", timeout=RENDER_TIMEOUT_MS)
    body = page.inner_text("body")
    assert TEAM_NAME in body and "No failed probes." in body
    assert page.locator("h3 em").count() == 0  # the asterisks did not become emphasis
    assert key not in page.content()  # the key is not echoed back once signed in

    fill(page, "Base URL", NEW_URL)
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_selector("text=Saved: url.", timeout=RENDER_TIMEOUT_MS)
    with session_scope(db_file) as session:
        assert session.scalars(select(Target)).one().base_url == NEW_URL
    # The flash comes first in the rerun; the audit row and the channel list follow it: wait for them.
    page.wait_for_selector("text=base_url", timeout=RENDER_TIMEOUT_MS)  # the audit row on the page

    # A notification channel: added through the page, listed masked, removed again.
    # Streamlit draws the rerun top down: the channel list may come after "Saved" is shown.
    page.wait_for_selector("text=No channels yet", timeout=RENDER_TIMEOUT_MS)
    fill(page, "Apprise URL", "json://127.0.0.1:9/hook?token=hook-secret-42")
    page.get_by_role("button", name="Add channel").click()
    page.wait_for_selector("text=Channel added", timeout=RENDER_TIMEOUT_MS)
    body = page.inner_text("body")
    assert "json://127.0.0.1" in body and "hook-secret-42" not in page.content()
    page.get_by_role("button", name="Remove").click()
    page.wait_for_selector("text=Channel removed.", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("text=No channels yet", timeout=RENDER_TIMEOUT_MS)  # the rerun's list
    with session_scope(db_file) as session:
        assert session.scalars(select(AlertChannel)).all() == []
