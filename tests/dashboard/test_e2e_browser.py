"""End to end: ``clfwatch dashboard`` (streamlit run) on loopback, driven in Debian's headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from storage.engine import engine_for, upgrade_database
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: F401 - others import them here
from tests.dashboard.conftest import REPO_ROOT, SeededDashboard, seed_dashboard_db
from tests.servers import dashboard_server

VIEWPORT = {"width": 1400, "height": 1800}  # the page fixture's (tests/conftest.py)
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
RENDER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededDashboard]:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'clfwatch.db'}"
    upgrade_database(url)
    yield seed_dashboard_db(url)
    engine_for(url).dispose()


@pytest.fixture(scope="module")
def dashboard_url(seeded_file: SeededDashboard, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dashboard_server(seeded_file.url, tmp_path_factory.mktemp("e2e-log")) as base:
        yield base



def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_scoreboard_in_the_browser(dashboard_url: str, seeded_file: SeededDashboard, page: Page) -> None:
    page.goto(dashboard_url + "/")
    page.wait_for_selector("text=Down now: charlie-team", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(".js-plotly-plot", timeout=RENDER_TIMEOUT_MS)
    body = page.inner_text("body")
    assert "Scoreboard" in body
    assert "Leader" in body and "alpha-team" in body
    for label in ("Scoreboard", "Team", "Stress", "Admin"):
        assert page.get_by_role("link", name=label).count() >= 1
    assert "Download CSV" in body
    html = page.content()
    assert seeded_file.token not in html
    assert not any(sample_id in html for sample_id in seeded_file.sample_ids)
    screenshot(page, "scoreboard")


def test_team_page_in_the_browser(dashboard_url: str, seeded_file: SeededDashboard, page: Page) -> None:
    page.goto(dashboard_url + "/team?target=bravo-team")
    page.wait_for_selector("text=bravo-team: rank 3 of 3", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4",
                           timeout=RENDER_TIMEOUT_MS)
    body = page.inner_text("body")
    assert "Why this grade" in body
    assert "Recent failures" in body
    assert "ROC curve of the latest answers" in page.content()
    assert "AUC" in body
    assert seeded_file.token not in page.content()
    screenshot(page, "team-bravo")
    # switching target in the page re-renders it for the other team
    page.locator("[data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="alpha-team").click()
    page.wait_for_selector("text=alpha-team: rank 1 of 3", timeout=RENDER_TIMEOUT_MS)
    assert "No failed probes in this window." in page.inner_text("body")
    screenshot(page, "team-alpha")


@pytest.mark.parametrize("port", ["0", "70000", "-5", "80a"])
def test_dashboard_command_refuses_a_bad_port(
    port: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clfwatch.cli import main

    monkeypatch.chdir(tmp_path)  # the default database is ./clfwatch.db
    monkeypatch.delenv("CLFWATCH_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["dashboard", "--port", port])
    assert exit_info.value.code == 2
    assert "argument --port: must be" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before the database was created or migrated


def test_dashboard_command_line_keeps_telemetry_off() -> None:
    from clfwatch.commands.dashboard import APP_PATH, streamlit_command

    command = streamlit_command("127.0.0.1", 8599)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4] == str(APP_PATH)
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.headless"] == "true"
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.port"] == "8599"
    assert flags["--browser.gatherUsageStats"] == "false"


def fill(page: Page, label: str, value: str) -> None:
    """Type into a labelled field and leave it, so Streamlit takes the value before a click."""
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")
