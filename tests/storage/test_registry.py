"""Course team names, audited changes and team keys, on SQLite and Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from storage.engine import session_scope
from storage.models import Probe, TargetChange
from storage.targets import (
    TargetError,
    add_target,
    get_target,
    get_target_by_id,
    issue_team_key,
    probe_targets,
    target_changes,
    target_for_key,
    update_target,
    url_warnings,
    validate_name,
    validate_url,
)

COURSE_NAME = "PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ"


@pytest.mark.parametrize(
    "name", [COURSE_NAME, "PROD_ML_FALL_25|IVANOV_PETROV", "a", "x" * 100, "équipe 東京", "a/b"]
)
def test_good_names(name: str) -> None:
    assert validate_name(name) == name


def test_name_is_nfc() -> None:
    decomposed = "E\u0301quipe"  # E + combining acute
    assert validate_name(decomposed) == "\u00c9quipe"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" lead", "starts or ends with a space"),
        ("trail ", "starts or ends with a space"),
        ("x" * 101, "at most 100"),
        ("bell\x07", "control character"),
        ("tab\there", "control character"),
        ("new\nline", "control character"),
        ("zero\u200bwidth", "zero-width"),
        ("joiner\u200d", "zero-width"),
        ("bom\ufeff", "zero-width"),
        ("evil\u202eelif", "bidirectional control"),
        ("iso\u2066late", "bidirectional control"),
        ("nb\u00a0space", "non-printable"),
    ],
)
def test_bad_names_get_one_clear_line(name: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason) as info:
        validate_name(name)
    message = str(info.value)
    assert "\n" not in message and "\u202e" not in message and "\x07" not in message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1 :8190", "http://exa mple.com", " http://a.b", "http://a.b\n",
     "http://a.b/\tx", "http://a\u200b.b", "http://a.b/\x00"],
)
def test_urls_with_whitespace_or_control_are_refused(url: str) -> None:
    with pytest.raises(TargetError, match="position") as info:
        validate_url(url)
    assert "\n" not in str(info.value)


def test_url_warnings_name_the_mistake() -> None:
    (w,) = url_warnings("http://h:1/predict", "/predict", "/health")
    assert "predict path /predict" in w and "http://h:1?" in w
    (w,) = url_warnings("http://h:1/api/health", "/predict", "/health")
    assert "health path" in w and "http://h:1/api?" in w
    assert url_warnings("http://h:1/api", "/predict", "/health") == []


def test_casefold_duplicates_are_refused(db_url: str) -> None:
    with session_scope(db_url) as s:
        add_target(s, name=COURSE_NAME, base_url="http://127.0.0.1:1")
        add_target(s, name="Straße", base_url="http://127.0.0.1:1")
    for dup in ("prod_ml_fall_25|иванов_петров", "STRASSE"):
        with session_scope(db_url) as s, pytest.raises(TargetError, match="ignoring case"):
            add_target(s, name=dup, base_url="http://127.0.0.1:2")
    with session_scope(db_url) as s, pytest.raises(TargetError, match="ignoring case"):
        update_target(s, "Straße", name="prod_ml_fall_25|ИВАНОВ_петров")
    with session_scope(db_url) as s:  # a case-only rename of itself is fine
        assert update_target(s, "Straße", name="STRAßE").name == "STRAßE"


def _add_probe(db_url: str, target_id: int) -> None:
    with session_scope(db_url) as s:
        s.add(Probe(probe_uid=str(uuid.uuid4()), target_id=target_id, kind="health",
                    started_at=datetime.now(UTC), outcome="ok", status_code=200))


def test_update_keeps_identity_and_audits_without_values(db_url: str) -> None:
    registered = datetime(2026, 9, 1, tzinfo=UTC)
    with session_scope(db_url) as s:
        view = add_target(s, name="team-a", base_url="http://127.0.0.1:1", token="tok-OLD",
                          registered_at=registered)
    _add_probe(db_url, view.id)
    with session_scope(db_url) as s:
        new = update_target(s, "team-a", name=COURSE_NAME, base_url="http://127.0.0.1:9",
                            token="tok-NEW-SECRET", actor="team")
        assert (new.id, new.registered_at) == (view.id, registered)
        # Unchanged values and None write nothing.
        update_target(s, COURSE_NAME, base_url="http://127.0.0.1:9", predict_path=None)
        update_target(s, COURSE_NAME, actor="admin", clear_token=True)
    with session_scope(db_url) as s:
        assert get_target_by_id(s, view.id).name == COURSE_NAME
        assert probe_targets(s)[0].token is None
        assert s.scalar(select(func.count()).select_from(Probe)) == 1
        changes = target_changes(s, view.id)
        assert [(c.actor, c.fields) for c in changes] == [
            ("admin", ("token",)),
            ("team", ("name", "base_url", "token")),
        ]
        stored = [str(r.fields) for r in s.scalars(select(TargetChange))]
        assert not any("tok-" in f or "127.0.0.1" in f for f in stored)
    with session_scope(db_url) as s, pytest.raises(TargetError, match="unknown actor"):
        update_target(s, COURSE_NAME, actor="hacker", predict_path="/p")
    with session_scope(db_url) as s, pytest.raises(TargetError, match="unknown target field"):
        update_target(s, COURSE_NAME, registered_at=datetime.now(UTC))


def test_clear_template(db_url: str) -> None:
    with session_scope(db_url) as s:
        add_target(s, name="t", base_url="http://127.0.0.1:1", request_template='{"q": "{text}"}')
        assert update_target(s, "t", clear_template=True).request_template is None
        assert target_changes(s, get_target(s, "t").id)[0].fields == ("request_template",)


def test_team_keys(db_url: str) -> None:
    with session_scope(db_url) as s:
        a = add_target(s, name="a", base_url="http://127.0.0.1:1", self_service=True)
        add_target(s, name="b", base_url="http://127.0.0.1:2")
        key_a = issue_team_key(s, "a", actor="team")
        key_b = issue_team_key(s, "b", actor="operator")
    with session_scope(db_url) as s:
        found = target_for_key(s, key_a)
        assert found is not None and found.id == a.id and found.self_service
        assert found.key_issued_at is not None
        assert target_for_key(s, key_b).name == "b"  # type: ignore[union-attr]
        assert target_for_key(s, key_a + "x") is None and target_for_key(s, "") is None
        assert key_a not in repr(get_target(s, "a"))
        assert probe_targets(s, ids=[a.id])[0].self_service
    with session_scope(db_url) as s:
        key_a2 = issue_team_key(s, "a", actor="team")
    with session_scope(db_url) as s:
        assert target_for_key(s, key_a) is None  # the old key stops at once
        assert target_for_key(s, key_a2).id == a.id  # type: ignore[union-attr]
        assert target_changes(s, a.id)[0].fields == ("key",)
