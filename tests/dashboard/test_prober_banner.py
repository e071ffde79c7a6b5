"""The scoreboard says when the prober fell behind (issue 17), and says nothing when it did not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage.engine import session_scope
from storage.probes import beat_prober_session, start_prober_session
from storage.targets import add_target
from tests.dashboard.apptest import open_page, shown_text
from tests.dashboard.conftest import clear_dashboard_caches

BANNER = "The prober is falling behind"


@pytest.mark.parametrize("late", [True, False])
def test_banner_when_the_prober_marked_late_probes(
    db_url: str, monkeypatch: pytest.MonkeyPatch, late: bool
) -> None:
    now = datetime.now(UTC)
    with session_scope(db_url) as session:
        add_target(session, name="team-a", base_url="http://127.0.0.1:9")
        sid = str(uuid.uuid4())
        start_prober_session(session, session_id=sid, hostname="p", interval_s=10.0,
                             at=now - timedelta(minutes=5))
        beat_prober_session(
            session, session_id=sid, at=now - timedelta(seconds=5),
            lateness_ms=3700.0 if late else 4.0, late_probes=4999 if late else 0,
            late_at=now - timedelta(seconds=20) if late else None,
        )
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", db_url)
    monkeypatch.delenv("CLFWATCH_DEFENSE_AT", raising=False)
    clear_dashboard_caches()
    at = open_page()
    assert not at.exception
    text = shown_text(at)
    if late:
        assert f"{BANNER}: 4,999 probes started too late to measure" in text
        assert "latest delay 3.7 s" in text and "not graded" in text
    else:
        assert BANNER not in text
