"""Register: a team registers its own classifier with the course's registration code."""

from __future__ import annotations

import streamlit as st

from dashboard import teams, ui
from teamapi.service import TeamError

st.title("Register your team")
settings = ui.page_settings()
if settings is None:
    st.stop()
if not teams.registration_open(settings):
    st.info("Self-registration is off here: ask your instructor to register your team "
            "(the operator turns it on with CLFWATCH_REGISTRATION_CODE).")
    st.stop()

st.caption("Your service must answer POST /predict and GET /health (see the contract in the README). "
           "You get a team key once: keep it, it signs you in on My team and on the team API.")
with st.form("team_register", clear_on_submit=False):
    name = st.text_input("Team name", placeholder="PROD_ML_FALL_25|IVANOV_PETROV", key="team_reg_name")
    base_url = st.text_input("Base URL of your service", placeholder="https://my-team.example:8080",
                             key="team_reg_url")
    code = st.text_input("Registration code (from your instructor)", type="password", key="team_reg_code")
    with st.expander("Optional: bearer token, paths, request template"):
        token = st.text_input("Bearer token your service demands (never shown again)", type="password",
                              key="team_reg_token")
        c1, c2, c3 = st.columns(3)
        predict_path = c1.text_input("Predict path", "/predict", key="team_reg_predict")
        health_path = c2.text_input("Health path", "/health", key="team_reg_health")
        pointer = c3.text_input("Probability pointer", "/probability", key="team_reg_pointer")
        template = st.text_area("Request template (JSON with {text} and {id})", key="team_reg_template")
    submitted = st.form_submit_button("Register")

if submitted:
    try:
        created = teams.register(
            settings, name=name, url=base_url, registration_code=code, token=token or None,
            predict_path=predict_path or None, health_path=health_path or None,
            template=template.strip() or None, probability_pointer=pointer or None,
        )
    except TeamError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
    else:
        st.success(f"Registered {teams.plain(created.name)} (id {created.id}).")
        st.markdown("**Your team key** — shown this once; copy it now:")
        st.code(created.key, language=None)
        st.caption("Sign in with it on the My team page, or send it as Authorization: Bearer KEY "
                   "to the team API. Lost it? Sign in and make a new one, or ask your instructor.")
