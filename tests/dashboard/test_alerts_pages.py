"""Incidents on the scoreboard and the team page, delivery failures on the admin page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.alerts import insert_channel, open_incident, record_delivery, resolve_incident
from storage.engine import session_scope
from storage.targets import get_target
from tests.dashboard.apptest import everything_rendered, open_page, shown_text
from tests.dashboard.conftest import SeededDashboard
from tests.dashboard.test_admin import signed_in

CHANNEL_SECRET = "hook-secret-4411"


def seed_alerts(env: SeededDashboard) -> None:
    now = datetime.now(UTC)
    with session_scope(env.url) as session:
        down_id = get_target(session, env.down).id
        healthy_id = get_target(session, env.healthy).id
        open_incident(
            session, target_id=down_id, kind="health", started_at=now - timedelta(minutes=12, seconds=5),
            outcome="connect_error", reason="connection refused or host unreachable", failed_probes=9,
        )
        open_incident(session, target_id=healthy_id, kind="predict", started_at=now - timedelta(days=1),
                      outcome="timeout", reason="no answer within the probe timeout", failed_probes=3)
        resolve_incident(session, target_id=healthy_id, kind="predict",
                         resolved_at=now - timedelta(days=1) + timedelta(seconds=95), failed_probes=4)
        channel = insert_channel(session, target_id=down_id, url=f"json://127.0.0.1:9/{CHANNEL_SECRET}",
                                 masked="json://127.0.0.1:9/****")
        record_delivery(session, channel_id=channel.id, target_id=down_id, incident_id=None, event="down",
                        status="failed", attempts=4, error="A Connection error occurred sending JSON",
                        created_at=now - timedelta(minutes=11), finished_at=now - timedelta(minutes=10))


def test_scoreboard_shows_how_long_a_target_has_been_down(dashboard_env: SeededDashboard) -> None:
    seed_alerts(dashboard_env)
    at = open_page()
    assert not at.exception
    table = at.table[0].value  # the board (an HTML table), where the incident column is
    incident = dict(zip(table["target"], table["incident"], strict=True))
    assert incident[dashboard_env.down] == "down 12 min"
    assert incident[dashboard_env.healthy] == ""  # resolved: nothing open
    assert f"{dashboard_env.down} down 12 min (health: connection refused" in shown_text(at)


def test_team_page_shows_the_open_incident_and_the_history(dashboard_env: SeededDashboard) -> None:
    seed_alerts(dashboard_env)
    at = open_page("team")
    at.selectbox(key="team_target").select(dashboard_env.down)
    at.run()
    assert not at.exception
    text = shown_text(at)
    assert "Incident: health probes failing, down 12 min" in text
    at.selectbox(key="team_target").select(dashboard_env.healthy)
    at.run()
    text = shown_text(at)
    assert "Incident: " not in text
    assert "timeout,no answer within the probe timeout,4,95 s" in text  # the resolved one


def test_admin_shows_delivery_failures_and_masked_channels(admin_env: SeededDashboard) -> None:
    seed_alerts(admin_env)
    at = signed_in()
    assert not at.exception
    text = shown_text(at)
    assert "1 message(s) did not get through after their retries." in text
    assert "A Connection error occurred sending JSON" in text
    assert "json://127.0.0.1:9/****" in text
    assert CHANNEL_SECRET not in everything_rendered(at)
