"""Target registration and validation, on SQLite and Postgres."""

from __future__ import annotations

import pytest

from storage.engine import session_scope
from storage.targets import (
    TargetError,
    add_target,
    get_target,
    list_targets,
    probe_targets,
    remove_target,
    set_active,
    update_target,
    validate_name,
    validate_url,
)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org",
        "example.org",
        "http://",
        "http:///predict",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://host:99999",
        "http://host/?q=1",
        "",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        validate_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://team-a.example.org/api/", "https://team-a.example.org/api"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_good_urls_are_normalised(url: str, expected: str) -> None:
    assert validate_url(url) == expected


@pytest.mark.parametrize("name", ["", " ", "x" * 101, " lead", "trail ", "tab\there", "bell\x07"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(TargetError):
        validate_name(name)


def test_lifecycle_and_token_stays_hidden(db_url: str) -> None:
    with session_scope(db_url) as s:
        add_target(s, name="team-a", base_url="http://127.0.0.1:1", token="tok-SECRET")
        add_target(s, name="team-b", base_url="http://127.0.0.1:2")
    with session_scope(db_url) as s:
        views = list_targets(s)
        assert [v.name for v in views] == ["team-a", "team-b"]
        assert views[0].has_token and not views[1].has_token
        assert "tok-SECRET" not in repr(views)
        assert not hasattr(views[0], "token")
        probes = probe_targets(s)
        assert probes[0].token == "tok-SECRET" and "tok-SECRET" not in repr(probes)
    with session_scope(db_url) as s, pytest.raises(TargetError, match="exists already"):
        add_target(s, name="team-a", base_url="http://127.0.0.1:3")
    with session_scope(db_url) as s:
        set_active(s, "team-b", False)
        assert [t.name for t in probe_targets(s)] == ["team-a"]
        update_target(s, "team-a", base_url="http://127.0.0.1:4/", token=None)
    with session_scope(db_url) as s:
        assert get_target(s, "team-a").base_url == "http://127.0.0.1:4"
        assert probe_targets(s)[0].token == "tok-SECRET"  # None keeps the token
        remove_target(s, "team-b")
        assert [v.name for v in list_targets(s)] == ["team-a"]
    with session_scope(db_url) as s, pytest.raises(TargetError, match="no target"):
        remove_target(s, "nobody")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_template", '{"q": "x"}'),
        ("request_template", '{"text": {text}'),
        ("predict_path", "predict"),
        ("probability_pointer", "probability"),
    ],
)
def test_bad_target_shapes_are_refused(db_url: str, field: str, value: str) -> None:
    with session_scope(db_url) as s, pytest.raises(TargetError):
        add_target(s, name="t", base_url="http://127.0.0.1:1", **{field: value})  # type: ignore[arg-type]
