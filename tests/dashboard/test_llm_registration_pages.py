"""The admin and Register pages register openai-chat targets (AppTest), against a real OpenAI stub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard.teams import plain
from storage.engine import session_scope
from storage.targets import get_target, list_targets
from tests.dashboard.apptest import button, everything_rendered, open_page, shown_text
from tests.dashboard.conftest import SeededDashboard, clear_dashboard_caches
from tests.dashboard.test_admin import signed_in
from tests.probes.llm_stub import MODELS, STUB_KEY, llm_stub

LLM = "PROD_ML_FALL_25|LLM_ADMIN"
CHAT = "LLM (openai-chat)"
CODE = "course-code-llm-3f"


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with llm_stub() as url:
        yield url


def test_admin_registers_an_llm_and_lists_its_kind(admin_env: SeededDashboard, stub: str) -> None:
    at = signed_in()
    assert at.radio(key="reg_kind").value == "Classifier"
    assert [t for t in at.text_area if t.key == "reg_template"]
    at.radio(key="reg_kind").set_value(CHAT)
    at.run()
    assert not [t for t in at.text_area if t.key == "reg_template"]  # a classifier's field only
    assert at.text_input(key="reg_predict_openai-chat").value == "/v1/chat/completions"

    at.text_input(key="reg_name").input(LLM)
    at.text_input(key="reg_url").input(stub)
    button(at, "Register").click()
    at.run()
    assert "needs the bearer key its service demands" in " ".join(e.value for e in at.error)
    at.text_input(key="reg_token").input("wrong-key-5")
    button(at, "Register").click()
    at.run()
    (error,) = [e.value for e in at.error]
    assert "the server refused the key (HTTP 401)" in error and error.endswith("fill in the Model field")

    at.text_input(key="reg_token").input(STUB_KEY)
    button(at, "Register").click()
    at.run()
    assert not at.exception
    assert f"Registered {plain(LLM)}." in shown_text(at)
    assert [w for w in at.warning if "the server lists 2 models" in w.value]
    with session_scope(admin_env.url) as session:
        view = get_target(session, LLM)
    assert (view.kind, view.model, view.has_token) == ("openai-chat", MODELS[0], True)
    table = at.dataframe[0].value
    kinds = dict(zip(table["name"], table["kind"], strict=True))
    assert kinds[LLM] == "openai-chat" and kinds["alpha-team"] == "classifier"
    assert dict(zip(table["name"], table["model"], strict=True))[LLM] == MODELS[0]

    # Its editor asks for a model, not for a template or pointer.
    at.selectbox(key="edit_target").select(LLM)
    at.run()
    assert not [t for t in at.text_input if t.key == f"edit_pointer_{LLM}"]
    at.text_input(key=f"edit_model_{LLM}").input(MODELS[1])
    button(at, "Save changes").click()
    at.run()
    assert f"Saved {plain(LLM)}." in shown_text(at)
    with session_scope(admin_env.url) as session:
        assert get_target(session, LLM).model == MODELS[1]
    assert STUB_KEY not in everything_rendered(at)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_team_registers_an_llm_on_the_register_page(
    dashboard_env: SeededDashboard, stub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLFWATCH_REGISTRATION_CODE", CODE)
    monkeypatch.setenv("CLFWATCH_SELF_SERVICE_NETWORKS", "127.0.0.0/8")
    clear_dashboard_caches()
    at = open_page("register")
    at.radio(key="team_reg_kind").set_value("An LLM (OpenAI-compatible /v1/chat/completions)")
    at.run()
    assert not [t for t in at.text_area if t.key == "team_reg_template"]
    at.text_input(key="team_reg_name").input("PROD_ML_FALL_25|LLM_TEAM")
    at.text_input(key="team_reg_url").input(stub + "/empty")
    at.text_input(key="team_reg_code").input(CODE)
    at.text_input(key="team_reg_token").input(STUB_KEY)
    button(at, "Register").click()
    at.run()
    (error,) = [e.value for e in at.error]
    assert "the server lists no model (empty data)" in error and error.endswith("fill in the Model field")
    assert stub not in error  # "your service's /v1/models": what the team typed is not echoed

    at.text_input(key="team_reg_url").input(stub)
    at.text_input(key="team_reg_model").input(MODELS[1])
    button(at, "Register").click()
    at.run()
    assert not at.exception and not at.error
    text = shown_text(at)
    assert f"Registered {plain('PROD_ML_FALL_25|LLM_TEAM')} (openai-chat, model {plain(MODELS[1])})" in text
    team_key = at.code[0].value
    assert len(team_key) >= 32  # the team key, shown once
    assert STUB_KEY not in everything_rendered(at)
    with session_scope(dashboard_env.url) as session:
        view = {v.name: v for v in list_targets(session)}["PROD_ML_FALL_25|LLM_TEAM"]
    assert (view.kind, view.model, view.self_service) == ("openai-chat", MODELS[1], True)

    # On My team the LLM's form asks for its model; its token cannot be removed.
    at.switch_page("app_pages/my_team.py")
    at.run()
    at.text_input(key="team_key_input").input(team_key)
    button(at, "Sign in").click()
    at.run()
    assert not [c for c in at.checkbox if c.key == "team_edit_drop_token"]
    fields = next(f.value for f in at.dataframe if list(f.value.columns) == ["field", "value"])
    assert dict(zip(fields["field"], fields["value"], strict=True)) == {
        "kind": "openai-chat", "url": stub, "predict_path": "/v1/chat/completions",
        "health_path": "/health", "model": MODELS[1], "token": "set", "probed": "yes"}
    assert not [t for t in at.text_area if t.key == "team_edit_template"]
    at.text_input(key="team_edit_model").input(MODELS[0])
    button(at, "Save changes").click()
    at.run()
    assert "Saved: model." in shown_text(at)
    with session_scope(dashboard_env.url) as session:
        view = {v.name: v for v in list_targets(session)}["PROD_ML_FALL_25|LLM_TEAM"]
    assert view.model == MODELS[0]
    assert STUB_KEY not in everything_rendered(at)
