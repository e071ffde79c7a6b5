"""The words of every alert message: pure functions of a notice and a target name.

A message says what failed, since when, why (a fixed phrase per outcome, never the answer's
body), and links to the team page. It never carries a token, a hidden label or a sample text:
those never reach a notice in the first place.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from alerts.tracker import NOTIFY_DOWN, NOTIFY_REPEAT, NOTIFY_RESOLVED, Notice

TEAM_PAGE_PATH = "/team"
REASONS = {
    "timeout": "no answer within the probe timeout",
    "connect_error": "connection refused or host unreachable",
    "http_error": "answered with an HTTP error",
    "bad_body": "answer not in the contract's shape",
    "too_large": "answer over the size cap",
    "protocol_error": "broken HTTP exchange",
}


def reason_phrase(outcome: str, status_code: int | None) -> str:
    """A person's phrase for a failed probe's outcome; only the outcome and the status go in."""
    phrase = REASONS.get(outcome, outcome.replace("_", " "))
    if outcome == "http_error" and status_code is not None:
        phrase = f"answered HTTP {status_code}"
    return phrase


def duration_text(seconds: float) -> str:
    """``8 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``: as precise as a person needs."""
    s = max(0, int(round(seconds)))
    if s < 120:
        return f"{s} s"
    minutes = s // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def time_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def team_link(public_url: str | None, target_name: str) -> str | None:
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}{TEAM_PAGE_PATH}?target={quote(target_name)}"


def render(notice: Notice, target_name: str, public_url: str | None) -> tuple[str, str]:
    """The title and body of the message for a notice."""
    kinds = " and ".join(notice.kinds)
    link = team_link(public_url, target_name)
    tail = f"\nTeam page: {link}" if link else ""
    since = time_text(notice.started_at)
    if notice.event == NOTIFY_DOWN:
        title = f"clfwatch: {target_name} is DOWN"
        body = (
            f"{target_name}: {kinds} probes failing since {since} "
            f"({notice.failed_probes} failed in a row). Reason: {notice.reason}."
        )
    elif notice.event == NOTIFY_REPEAT:
        title = f"clfwatch: {target_name} is still DOWN"
        body = (
            f"{target_name}: {kinds} probes failing for {duration_text(notice.duration_s)}, since {since} "
            f"({notice.failed_probes} failed). First reason: {notice.reason}."
        )
    elif notice.event == NOTIFY_RESOLVED:
        title = f"clfwatch: {target_name} is back up"
        until = time_text(notice.resolved_at or notice.at)
        body = (
            f"{target_name}: {kinds} probes answer again. It was down for "
            f"{duration_text(notice.duration_s)}, from {since} to {until} "
            f"({notice.failed_probes} failed probes). First reason: {notice.reason}."
        )
    else:
        raise ValueError(f"unknown notice event {notice.event!r}")
    return title, body + tail


def channel_test_message(channel_id: int) -> tuple[str, str]:
    """A harmless message for ``clfwatch alerts test``."""
    return (
        "clfwatch: test message",
        f"This is a test of alert channel {channel_id}. clfwatch will write here when a target goes "
        "down and when it is back.",
    )
