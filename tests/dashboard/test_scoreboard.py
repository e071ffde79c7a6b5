"""Scoreboard page on a seeded database (SQLite and Postgres): what it shows, and what it never shows."""

from __future__ import annotations

import pytest

from core.settings import get_settings
from scoring.board import grade_now
from scoring.rules import GradingDefaults
from storage.engine import session_scope
from tests.dashboard.apptest import everything_rendered, open_page, shown_text
from tests.dashboard.conftest import SeededDashboard, clear_dashboard_caches


def board_of(at):  # type: ignore[no-untyped-def]
    """The board (an HTML table, names wrap) joined with the measures grid beside it, by target."""
    board, measures = at.table[0].value, at.dataframe[0].value
    assert board["target"].tolist() == measures["target"].tolist()
    return board.merge(measures.drop(columns=["rank"]), on="target")


def test_scoreboard_shows_every_target_ranked(dashboard_env: SeededDashboard) -> None:
    at = open_page()
    assert not at.exception
    table = board_of(at)
    with session_scope(dashboard_env.url) as session:
        board = grade_now(session, GradingDefaults(defense_at=get_settings().defense_at))
    expected = {t.name: t for t in board.targets}
    assert table["target"].tolist() == ["alpha-team", "charlie-team", "bravo-team"]
    assert table["total"].is_monotonic_decreasing
    for _, row in table.iterrows():
        graded = expected[row["target"]]
        assert row["rank"] == graded.rank
        # graded a moment apart: the lifetime multiplier grows by about 2e-6 per second
        assert row["total"] == pytest.approx(graded.total, rel=1e-4)
        assert row["multiplier"] == pytest.approx(graded.multiplier, rel=1e-4)
        assert row["latency (s)"] == pytest.approx(graded.components["latency"].raw)
        assert row["200-rate (%)"] == pytest.approx(100 * graded.components["rate200"].raw)
        assert row["AUC"] == pytest.approx(graded.components["auc"].raw)
        assert row["AUC pts"] == pytest.approx(graded.components["auc"].points)
        assert row["base"] == pytest.approx(graded.base)
        assert row["AUC coverage (%)"] == pytest.approx(100 * graded.auc_coverage)
    by_name = table.set_index("target")
    assert by_name.loc["alpha-team", "stress"] == f"{dashboard_env.stress_score}/10"
    assert by_name.loc["bravo-team", "stress"] == "—"
    assert by_name.loc["charlie-team", "status"] == "DOWN"
    assert by_name.loc["alpha-team", "status"] == "up"
    assert by_name.loc["alpha-team", "last probe"].endswith("min ago")
    # the slow target's 500s cost it the whole 200-rate component
    assert by_name.loc["bravo-team", "200-rate pts"] == pytest.approx(0.0)
    text = shown_text(at)
    assert "Down now: charlie-team" in text
    assert "Leader: alpha-team" in text
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    assert len(at.get("plotly_chart")) == 1


def test_scoreboard_never_shows_tokens_or_labels(dashboard_env: SeededDashboard) -> None:
    at = open_page()
    rendered = everything_rendered(at)
    assert dashboard_env.token not in rendered
    for sample_id in dashboard_env.sample_ids:
        assert sample_id not in rendered
    assert "label" not in [c.lower() for c in at.dataframe[0].value.columns]


def test_scoreboard_on_an_empty_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", db_url)
    monkeypatch.delenv("CLFWATCH_DEFENSE_AT", raising=False)
    clear_dashboard_caches()
    at = open_page()
    assert not at.exception
    assert "No targets registered yet." in shown_text(at)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",  # nothing listens
        "sqlite:///{tmp}/unmigrated.db",  # no tables
    ],
)
def test_a_broken_database_shows_a_short_message(url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", url.format(tmp=tmp_path))
    clear_dashboard_caches()
    try:
        for page in (None, "team", "stress"):
            at = open_page(page)
            assert not at.exception
            errors = [e.value for e in at.error]
            assert errors and all("right now" in e for e in errors), errors
            rendered = everything_rendered(at)
            for internal in ("OperationalError", "psycopg", "sqlite3", "no such table", "Traceback",
                             "127.0.0.1:1", "nowhere", str(tmp_path)):
                assert internal not in rendered
    finally:
        clear_dashboard_caches()


def test_the_board_is_shared_and_refreshed_in_the_background(
    dashboard_env: SeededDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from dashboard import db, scoreboard
    from storage.targets import add_target

    first = scoreboard.scoreboard_view(dashboard_env.url)
    assert [r["target"] for r in first["rows"]] == ["alpha-team", "charlie-team", "bravo-team"]
    with session_scope(dashboard_env.url) as session:
        add_target(session, name="late-team", base_url="http://127.0.0.1:9")
    assert scoreboard.scoreboard_view(dashboard_env.url) is first  # within the TTL: served from memory
    monkeypatch.setattr(scoreboard.BOARDS, "ttl_s", 0)
    assert scoreboard.scoreboard_view(dashboard_env.url) is first  # stale: served at once, refreshed behind
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fresh = scoreboard.scoreboard_view(dashboard_env.url)
        if fresh is not first:
            break
        time.sleep(0.05)
    assert "late-team" in [r["target"] for r in fresh["rows"]]
    # an admin change forgets the board: the next view grades synchronously
    monkeypatch.setattr(scoreboard.BOARDS, "ttl_s", 3600)
    with session_scope(dashboard_env.url) as session:
        add_target(session, name="later-team", base_url="http://127.0.0.1:9")
    db.clear_caches()
    assert "later-team" in [r["target"] for r in scoreboard.scoreboard_view(dashboard_env.url)["rows"]]


def test_scoreboard_breaks_ties_by_the_base_score(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.grading import set_grading_config
    from tests.scoring.data import AT, build_tie_scenario

    with session_scope(db_url) as session:
        build_tie_scenario(session)
        set_grading_config(session, defense_at=AT)
    for name in ("CLFWATCH_DEFENSE_AT", "CLFWATCH_RULES_FILE", "CLFWATCH_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", db_url)
    clear_dashboard_caches()
    try:
        at = open_page()
        assert not at.exception
        table = board_of(at)
        assert table["target"].tolist() == ["steady", "twin-a", "twin-b", "broken"]
        assert table["rank"].tolist() == [1, 2, 2, 4]
        assert table["base"].tolist() == pytest.approx([2.0, 1.0, 1.0, 0.0])
        assert table["total"].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.0])
        ruled = at.dataframe[1].value  # components zeroed by a rule, with the rule's words
        assert ["broken", "latency", "no valid answer to time"] in ruled.values.tolist()
        assert "base = points before the lifetime multiplier" in shown_text(at)
    finally:
        clear_dashboard_caches()
