"""The admin registers an openai-chat target in Chromium: real ``clfwatch dashboard``, real LLM stub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from storage.engine import engine_for, session_scope, upgrade_database
from storage.targets import list_targets
from tests.dashboard.conftest import ADMIN_PASSWORD
from tests.dashboard.test_e2e_browser import (
    RENDER_TIMEOUT_MS,
    fill,
    screenshot,
)
from tests.probes.llm_stub import MODELS, STUB_KEY, llm_stub
from tests.servers import dashboard_server

NAME = "PROD_ML_FALL_25|LLM_ИВАНОВ"

VIEWPORT = {"width": 1400, "height": 1800}  # the page fixture's (tests/conftest.py)


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with llm_stub() as url:
        yield url


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('llm-admin') / 'clfwatch.db'}"
    upgrade_database(url)
    yield url
    engine_for(url).dispose()


@pytest.fixture(scope="module")
def dashboard_url(db_file: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dashboard_server(db_file, tmp_path_factory.mktemp("llm-admin-log"), hidden=[STUB_KEY],
                          CLFWATCH_ADMIN_PASSWORD=ADMIN_PASSWORD) as base:
        yield base



def test_admin_registers_an_llm_in_the_browser(dashboard_url: str, db_file: str, page: Page,
                                               stub: str) -> None:
    page.goto(dashboard_url + "/admin")
    page.wait_for_selector("text=Admin password", timeout=RENDER_TIMEOUT_MS)
    fill(page, "Admin password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # A classifier's form first; the page draws top down, so wait for its last field.
    page.wait_for_selector("text=Request template (optional JSON", timeout=RENDER_TIMEOUT_MS)

    page.get_by_text("LLM (openai-chat)", exact=True).click()
    page.wait_for_selector("text=Model (blank: the first its /v1/models lists)", timeout=RENDER_TIMEOUT_MS)
    # The classifier's template field goes once the rerun is drawn (stale elements stay until then).
    page.get_by_label("Request template (optional JSON with {text} and {id})").wait_for(
        state="detached", timeout=RENDER_TIMEOUT_MS)
    fill(page, "Name", NAME)
    fill(page, "Base URL", stub)
    fill(page, "Bearer token the service demands (required, never shown again)", "wrong-key-8")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("text=the server refused the key (HTTP 401)", timeout=RENDER_TIMEOUT_MS)

    fill(page, "Bearer token the service demands (required, never shown again)", STUB_KEY)
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector(f"text=Registered {NAME}.", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("text=the server lists 2 models", timeout=RENDER_TIMEOUT_MS)
    with session_scope(db_file) as session:
        (view,) = list_targets(session)
    assert (view.name, view.kind, view.model, view.has_token) == (NAME, "openai-chat", MODELS[0], True)
    assert STUB_KEY not in page.content()  # not even in the password field any more
    screenshot(page, "admin-llm-registered")
