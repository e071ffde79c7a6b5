"""Register: a team registers its own classifier or LLM service with the course's registration code."""

from __future__ import annotations

import streamlit as st

from core.contract import TargetKind
from dashboard import teams, ui
from storage.targets import DEFAULT_PATHS
from teamapi.service import TeamError

KIND_LABELS = {"A classifier (POST /predict)": TargetKind.CLASSIFIER,
               "An LLM (OpenAI-compatible /v1/chat/completions)": TargetKind.OPENAI_CHAT}

st.title("Register your team")
settings = ui.page_settings()
if settings is None:
    st.stop()
if not teams.registration_open(settings):
    st.info("Self-registration is off here: ask your instructor to register your team "
            "(the operator turns it on with CLFWATCH_REGISTRATION_CODE).")
    st.stop()

# Outside the form: a form's widgets do not rerun the page, and the kind decides the fields.
kind_label = st.radio("What does your service serve?", list(KIND_LABELS), horizontal=True,
                      key="team_reg_kind")
kind = KIND_LABELS[kind_label]
chat = kind == TargetKind.OPENAI_CHAT
default_predict, default_health = DEFAULT_PATHS[kind]
if chat:
    st.caption("Your service must answer POST /v1/chat/completions (OpenAI's format, streamed too) and "
               "GET /v1/models, and refuse requests without its bearer key. You get a team key once: "
               "keep it, it signs you in on My team and on the team API.")
else:
    st.caption("Your service must answer POST /predict and GET /health (see the contract in the README). "
               "You get a team key once: keep it, it signs you in on My team and on the team API.")
with st.form("team_register", clear_on_submit=False):
    name = st.text_input("Team name", placeholder="PROD_ML_FALL_25|IVANOV_PETROV", key="team_reg_name")
    base_url = st.text_input("Base URL of your service", placeholder="https://my-team.example:8080",
                             key="team_reg_url")
    code = st.text_input("Registration code (from your instructor)", type="password", key="team_reg_code")
    model = template = pointer = ""
    if chat:
        token = st.text_input("Bearer key your service demands (required; not your team key, never "
                              "shown again)", type="password", key="team_reg_token")
        model = st.text_input("Model (blank: the first your /v1/models lists)", key="team_reg_model")
        with st.expander("Optional: paths"):
            c1, c2 = st.columns(2)
            predict_path = c1.text_input("Chat path", default_predict, key="team_reg_chat_path")
            health_path = c2.text_input("Health path (blank: GET /v1/models)", default_health,
                                        key="team_reg_chat_health")
    else:
        with st.expander("Optional: bearer token, paths, request template"):
            token = st.text_input("Bearer token your service demands (never shown again)", type="password",
                                  key="team_reg_token")
            c1, c2, c3 = st.columns(3)
            predict_path = c1.text_input("Predict path", default_predict, key="team_reg_predict")
            health_path = c2.text_input("Health path", default_health, key="team_reg_health")
            pointer = c3.text_input("Probability pointer", "/probability", key="team_reg_pointer")
            template = st.text_area("Request template (JSON with {text} and {id})", key="team_reg_template")
    submitted = st.form_submit_button("Register")

if submitted:
    try:
        with st.spinner("Registering…"):
            created = teams.register(
                settings, name=name, url=base_url, registration_code=code, token=token or None,
                predict_path=predict_path or None,
                health_path=health_path if chat else health_path or None,
                template=template.strip() or None, probability_pointer=pointer or None,
                kind=kind, model=model.strip() or None,
            )
    except TeamError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
    else:
        what = f" (openai-chat, model {teams.plain(created.model or '')})" if chat else ""
        st.success(f"Registered {teams.plain(created.name)}{what} (id {created.id}).")
        for warning in created.warnings:
            st.warning(teams.plain(warning))
        st.markdown("**Your team key** — shown this once; copy it now:")
        st.code(created.key, language=None)
        st.caption("Sign in with it on the My team page, or send it as Authorization: Bearer KEY "
                   "to the team API. Lost it? Sign in and make a new one, or ask your instructor.")
