"""A team's status and badge for an openai-chat target: its grade from the LLM board, ranked there."""

from __future__ import annotations

from core.settings import Settings
from scoring.board import compute_scoreboard
from scoring.rules import DEFAULT_RULES
from storage.engine import session_scope
from teamapi.service import badge_svg, team_status
from tests.scoring.data import AT, BASELINE_AUC, build_scenario
from tests.scoring.llm_data import build_llm_scenario


def test_status_and_badge_of_an_llm_target(db_url: str) -> None:
    with session_scope(db_url) as s:
        build_scenario(s)
        ids = build_llm_scenario(s)
    settings = Settings(database_url=db_url)
    with session_scope(db_url) as s:
        board = compute_scoreboard(s, at=AT, rules=DEFAULT_RULES, baseline_auc=BASELINE_AUC)
        me = team_status(s, settings, ids["llm-flaky"], board=board)
        badge = badge_svg(s, settings, ids["llm-flaky"], board=board)
    grade = me["grade"]
    assert grade["rank"] == 3 and grade["of"] == 5  # of the LLM board, not of all ten targets
    assert set(grade["components"]) == {"ttft", "uptime", "rate200"} and grade["total"] == 1.0
    assert "uptime 95.0 % · rank 3/5" in badge
