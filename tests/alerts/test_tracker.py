"""The incident tracker on its own: thresholds, gaps, one message per target each way, repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.messages import duration_text, reason_phrase, render
from alerts.tracker import (
    NOTIFY_DOWN,
    NOTIFY_REPEAT,
    NOTIFY_RESOLVED,
    OPENED,
    RESOLVED,
    IncidentTracker,
    ProbeResult,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
INTERVAL_S = 10.0


def tracker(**kw: float) -> IncidentTracker:
    args = dict(failure_threshold=3, success_threshold=2, gap_s=25.0, repeat_s=None)
    args.update(kw)
    return IncidentTracker(**args)  # type: ignore[arg-type]


def feed(t: IncidentTracker, pattern: str, *, kind: str = "health", target_id: int = 1,
         start: datetime = T0, step_s: float = INTERVAL_S) -> list[tuple[str, ...]]:
    """Feed 'x' (failed) and '.' (ok) results; ' ' skips a slot (a prober gap). Returns what happened."""
    events: list[tuple[str, ...]] = []
    for i, c in enumerate(pattern):
        if c == " ":
            continue
        r = ProbeResult(target_id, kind, c == ".", "ok" if c == "." else "timeout",
                        "" if c == "." else "no answer within the probe timeout",
                        start + timedelta(seconds=i * step_s))
        d = t.observe(r)
        events += [(f"{ch.change}:{ch.kind}",) for ch in d.changes]
        events += [(f"notify:{n.event}",) for n in d.notices]
    return events


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", []),
        ("......", []),
        ("xx.xx.xx", []),  # never three in a row
        ("xxx", [("opened:health",), ("notify:down",)]),
        ("xxxxxx", [("opened:health",), ("notify:down",)]),  # no repeats by default
        ("xxx.", [("opened:health",), ("notify:down",)]),  # one ok is not back yet
        ("xxx..", [("opened:health",), ("notify:down",), ("resolved:health",), ("notify:resolved",)]),
        ("xxx.x..", [("opened:health",), ("notify:down",), ("resolved:health",), ("notify:resolved",)]),
        ("xxx......", [("opened:health",), ("notify:down",), ("resolved:health",), ("notify:resolved",)]),
        ("xx   x", []),  # a prober gap splits the streak: never opens
        ("xxx   ..", [("opened:health",), ("notify:down",), ("resolved:health",), ("notify:resolved",)]),
        ("xxx.   .", [("opened:health",), ("notify:down",)]),  # an ok, a gap, an ok: not two in a row
    ],
)
def test_thresholds_and_gaps(pattern: str, expected: list[tuple[str, ...]]) -> None:
    assert feed(tracker(), pattern) == expected


def test_the_incident_starts_at_the_first_failure_and_ends_at_the_first_ok() -> None:
    t = tracker()
    results = [("x", 1), ("x", 2), ("x", 3), ("x", 4), (".", 5), (".", 6)]
    notices = []
    for c, i in results:
        at = T0 + timedelta(seconds=i)
        d = t.observe(ProbeResult(1, "health", c == ".", "connect_error", "refused", at))
        notices += d.notices
    down, back = notices
    assert down.event == NOTIFY_DOWN and down.started_at == T0 + timedelta(seconds=1)
    assert down.failed_probes == 3
    assert back.event == NOTIFY_RESOLVED and back.resolved_at == T0 + timedelta(seconds=5)
    assert back.duration_s == 4.0 and back.failed_probes == 4


def test_both_kinds_failing_give_one_message_each_way() -> None:
    t = tracker()
    events: list[tuple[str, ...]] = []
    for i in range(6):
        for kind in ("health", "predict"):
            ok = i >= 4
            d = t.observe(ProbeResult(1, kind, ok, "timeout", "slow", T0 + timedelta(seconds=10 * i)))
            events += [(c.change, c.kind) for c in d.changes] + [("notify", n.event) for n in d.notices]
    assert events == [
        (OPENED, "health"), ("notify", NOTIFY_DOWN), (OPENED, "predict"),
        (RESOLVED, "health"), (RESOLVED, "predict"), ("notify", NOTIFY_RESOLVED),
    ]


def test_another_target_is_unaffected() -> None:
    t = tracker()
    feed(t, "xxx", target_id=1)
    assert feed(t, "....", target_id=2) == []
    assert t.is_down(1) and not t.is_down(2)


def test_repeat_only_when_asked_and_not_more_often() -> None:
    t = tracker(repeat_s=30.0)
    events = feed(t, "x" * 10)  # 90 s of failures, a reminder every 30 s after the first message
    assert events.count(("notify:" + NOTIFY_REPEAT,)) == 2


def test_a_restored_incident_resolves_without_a_second_down_message() -> None:
    t = tracker()
    t.restore(target_id=1, kind="health", started_at=T0 - timedelta(hours=1), outcome="timeout",
              reason="slow", failed_probes=7)
    assert feed(t, "x..") == [("resolved:health",), ("notify:resolved",)]


def test_thresholds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        tracker(failure_threshold=0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (8.4, "8 s"), (119, "119 s"), (720, "12 min"), (3 * 3600 + 300, "3 h 5 min"),
     (7200, "2 h"), (52 * 3600, "2 d 4 h"), (-5, "0 s")],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("outcome", "status", "phrase"),
    [("http_error", 503, "answered HTTP 503"), ("timeout", None, "no answer within the probe timeout"),
     ("connect_error", None, "connection refused or host unreachable"), ("weird_new", None, "weird new")],
)
def test_reason_phrase(outcome: str, status: int | None, phrase: str) -> None:
    assert reason_phrase(outcome, status) == phrase


def test_render_links_the_team_page_and_escapes_the_name() -> None:
    t = tracker()
    d = None
    for i in range(3):
        d = t.observe(ProbeResult(1, "health", False, "timeout", "slow", T0 + timedelta(seconds=i)))
    assert d is not None
    title, body = render(d.notices[0], "team a&b", "http://dash.example/")
    assert title == "clfwatch: team a&b is DOWN"
    assert body.endswith("Team page: http://dash.example/team?target=team%20a%26b")
    _title, body = render(d.notices[0], "x", None)
    assert "Team page" not in body
