"""Admin page on a seeded database, SQLite and Postgres: the gate, and each action landing in the DB."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dashboard.teams import plain
from storage.engine import session_scope
from storage.evalset import eval_count
from storage.grading import get_grading_config
from storage.models import Probe
from storage.targets import get_target, list_targets, target_changes
from tests.dashboard.apptest import button, everything_rendered, open_page, shown_text
from tests.dashboard.conftest import ADMIN_PASSWORD, SeededDashboard


def signed_in() -> object:
    at = open_page("admin")
    at.text_input(key="admin_password").input(ADMIN_PASSWORD)
    button(at, "Sign in").click()
    at.run()
    assert "Register a target" in shown_text(at)
    return at


def test_admin_is_off_without_a_password(dashboard_env: SeededDashboard) -> None:
    at = open_page("admin")
    text = shown_text(at)
    assert "Admin is off" in text
    assert "CLFWATCH_ADMIN_PASSWORD" in text
    assert not [t for t in at.text_input if t.key == "admin_password"]
    assert "Register a target" not in text


# Tables of cases run in one signed-in session each (one seeded database per backend), so the
# whole table costs one app start instead of one per row.
WRONG_PASSWORDS = ["wrong-password", "", ADMIN_PASSWORD.upper(), ADMIN_PASSWORD + " ", ADMIN_PASSWORD[:-1]]


def test_wrong_passwords_are_refused(admin_env: SeededDashboard) -> None:
    at = open_page("admin")
    for attempt in WRONG_PASSWORDS:
        at.text_input(key="admin_password").input(attempt)
        button(at, "Sign in").click()
        at.run()
        text = shown_text(at)
        assert "Wrong password." in text, attempt
        assert "Register a target" not in text, attempt


def test_admin_registers_a_target(admin_env: SeededDashboard) -> None:
    at = signed_in()
    at.text_input(key="reg_name").input("delta-team")
    at.text_input(key="reg_url").input("http://127.0.0.1:8099")
    at.text_input(key="reg_token").input("tok-delta-NEW-secret")
    button(at, "Register").click()
    at.run()
    assert f"Registered {plain('delta-team')}." in shown_text(at)
    with session_scope(admin_env.url) as session:
        views = {v.name: v for v in list_targets(session)}
    assert views["delta-team"].base_url == "http://127.0.0.1:8099"
    assert views["delta-team"].has_token
    at.run()
    assert "delta-team" in at.dataframe[0].value["name"].tolist()
    rendered = everything_rendered(at)
    assert "tok-delta-NEW-secret" not in rendered
    assert admin_env.token not in rendered


INVALID_REGISTRATIONS = [
    # (name, url, message shown)
    ("", "http://127.0.0.1:8099", "invalid name"),
    ("bad\u202ename", "http://127.0.0.1:8099", "invalid name"),
    ("x" * 101, "http://127.0.0.1:8099", "invalid name"),
    ("echo-team", "ftp://127.0.0.1", "scheme must be http or https"),
    ("echo-team", "http://127.0.0.1:8099/?q=1", "no query or fragment"),
    ("echo-team", "http://:80", "no host"),
    ("alpha-team", "http://127.0.0.1:8099", "exists already"),
]


def test_invalid_registrations_are_refused(admin_env: SeededDashboard) -> None:
    at = signed_in()
    for name, url, message in INVALID_REGISTRATIONS:
        at.text_input(key="reg_name").input(name)
        at.text_input(key="reg_url").input(url)
        button(at, "Register").click()
        at.run()
        assert message in " ".join(e.value for e in at.error), (name, url)
    with session_scope(admin_env.url) as session:
        assert sorted(v.name for v in list_targets(session)) == sorted(admin_env.targets)


def test_admin_edits_and_deactivates_a_target(admin_env: SeededDashboard) -> None:
    at = signed_in()
    at.selectbox(key="edit_target").select("bravo-team")
    at.run()
    at.text_input(key="edit_url_bravo-team").input("http://127.0.0.1:8100")
    button(at, "Save changes").click()
    at.run()
    assert f"Saved {plain('bravo-team')}." in shown_text(at)
    at.selectbox(key="active_target").select("charlie-team")
    at.run()
    button(at, "Deactivate").click()
    at.run()
    assert "charlie-team is now inactive." in shown_text(at)
    with session_scope(admin_env.url) as session:
        views = {v.name: v for v in list_targets(session)}
    assert views["bravo-team"].base_url == "http://127.0.0.1:8100"
    assert views["charlie-team"].active is False
    assert views["alpha-team"].has_token  # editing others never touched the token


COURSE_NAME = "PROD_ML_FALL_25|ИВАНОВ_PETROV"


def history_table(at):  # type: ignore[no-untyped-def]
    """The change-history table: the one with columns at, who, fields."""
    found = [f.value for f in at.dataframe if list(f.value.columns) == ["at", "who", "fields"]]
    assert len(found) == 1, [list(f.value.columns) for f in at.dataframe]
    return found[0]


def test_admin_renames_a_target_keeping_id_probes_and_history(admin_env: SeededDashboard) -> None:
    with session_scope(admin_env.url) as session:
        before = get_target(session, "bravo-team")
        probes = session.scalar(select(func.count()).select_from(Probe).where(Probe.target_id == before.id))
    assert probes
    at = signed_in()
    at.selectbox(key="edit_target").select("bravo-team")
    at.run()
    assert "No changes recorded since registration." in shown_text(at)
    at.text_input(key="edit_name_bravo-team").input(COURSE_NAME)
    at.text_input(key="edit_url_bravo-team").input("http://127.0.0.1:8100/predict")
    button(at, "Save changes").click()
    at.run()
    assert not at.exception
    text = shown_text(at)
    assert f"Renamed {plain('bravo-team')} to {plain(COURSE_NAME)}." in text
    # the URL warning survives the rerun after saving
    assert [w for w in at.warning if "already ends in the predict path" in w.value]
    assert at.selectbox(key="edit_target").value == COURSE_NAME
    history = history_table(at)
    assert history["who"].tolist() == ["admin"]
    assert set(history["fields"][0].split(", ")) == {"name", "base_url"}
    with session_scope(admin_env.url) as session:
        after = get_target(session, COURSE_NAME)
        assert session.scalar(
            select(func.count()).select_from(Probe).where(Probe.target_id == after.id)) == probes
        changes = target_changes(session, after.id)
        assert sorted(v.name for v in list_targets(session)) == sorted(
            [COURSE_NAME, *(n for n in admin_env.targets if n != "bravo-team")])
    assert (after.id, after.registered_at) == (before.id, before.registered_at)
    assert [(c.actor, set(c.fields)) for c in changes] == [("admin", {"name", "base_url"})]


RENAME_REFUSALS = [
    # (new name, message shown)
    ("", "invalid name"),
    ("alpha-team", "exists already"),
    ("ALPHA-TEAM", "alpha-team"),
    ("bad\u202ename", "invalid name"),
]


def test_admin_rename_refusals_are_one_line(admin_env: SeededDashboard) -> None:
    at = signed_in()
    at.selectbox(key="edit_target").select("bravo-team")
    at.run()
    for new_name, message in RENAME_REFUSALS:
        at.text_input(key="edit_name_bravo-team").input(new_name)
        button(at, "Save changes").click()
        at.run()
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0], (new_name, errors)
    with session_scope(admin_env.url) as session:
        view = get_target(session, "bravo-team")
        assert target_changes(session, view.id) == []


EVAL_UPLOADS = [
    # (file content, samples loaded or None when refused, message shown); refused ones first
    (b"id,text\na1,no label column\n", None, "missing column(s) label"),
    (b"id,text,label\na1,x,1\na1,y,0\n", None, "duplicate id"),
    (b"id,text,label\na1,x,2\n", None, "label must be 0 or 1"),
    (b"id,text,label\na1,,1\n", None, "empty text"),
    (b"id,text,label\n", None, "holds no samples"),
    (b"\xff\xfe\x00bad", None, "not UTF-8"),
    (b"id,text,label\na1,hello there,1\na2,hi bot,0\n", 2, "Loaded 2 samples."),
    (b"\xef\xbb\xbfid,text,label\nb1,with a BOM,0\n", 1, "Loaded 1 samples."),
]


def test_evaluation_uploads(admin_env: SeededDashboard) -> None:
    at = signed_in()
    expected = len(admin_env.sample_ids)
    for content, loaded, message in EVAL_UPLOADS:
        at.file_uploader(key="eval_upload").set_value(("eval.csv", content, "text/csv"))
        at.run()
        button(at, "Load evaluation set").click()
        at.run()
        text = shown_text(at)
        assert message in text, content
        if loaded is None:
            assert "Nothing loaded" in text
        else:
            expected = loaded
            assert f"Evaluation samples loaded: {loaded}" in text
        with session_scope(admin_env.url) as session:
            assert eval_count(session) == expected, content
    assert "hello there" not in everything_rendered(at)


GRADING_CASES = [
    # (defense time, rules TOML, saved?, message shown); a refused case keeps the previous one
    ("2026-12-01T10:00:00+00:00", "[latency]\nzero_at_s = 1.0\n", True, "Grading configuration saved."),
    ("2026-12-01T10:00:00", "", False, "needs a zone"),
    ("next tuesday", "", False, "not an ISO 8601 time"),
    ("", "[latency]\nzero_at_s = -1\n", False, "latency.zero_at_s"),
    ("", "[nonsense]\nx = 1\n", False, "nonsense"),
    ("", "this is = = not toml", False, "Not saved"),
    ("", "", True, "Grading configuration saved."),
]


def test_grading_configuration(admin_env: SeededDashboard) -> None:
    at = signed_in()
    stored: tuple[str, str] = ("", "")
    for defense, rules, saved, message in GRADING_CASES:
        at.text_input(key="grading_defense").input(defense)
        at.text_area(key="grading_rules").input(rules)
        button(at, "Save grading").click()
        at.run()
        assert message in shown_text(at), (defense, rules)
        if saved:
            stored = (defense, rules)
        with session_scope(admin_env.url) as session:
            cfg = get_grading_config(session)
        assert (cfg.defense_at.isoformat() if cfg.defense_at else "", cfg.rules_toml or "") == stored


# Drift itself (Evidently, seconds per report) is tested on both backends in test_drift*.py; here
# only the admin's trigger is: on a target without probes, so no report has to be computed.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_admin_recomputes_drift(admin_env: SeededDashboard) -> None:
    from storage.drift import list_drift_reports
    from storage.targets import add_target

    with session_scope(admin_env.url) as session:
        quiet_id = add_target(session, name="quiet-team", base_url="http://127.0.0.1:9").id
    at = signed_in()
    at.selectbox(key="drift_target").select("quiet-team")
    button(at, "Recompute drift").click()
    at.run()
    assert not at.exception
    assert "Drift recomputed for 1 target(s)." in shown_text(at)
    with session_scope(admin_env.url) as session:
        reports = list_drift_reports(session)
    assert reports == [] and quiet_id  # no answers, so no model change and no report
