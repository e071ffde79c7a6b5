"""Admin: targets, evaluation set, grading configuration, stress runs, drift. Password first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.contract import TargetKind
from dashboard import drift_runs, grading, incidents, targets, ui
from scoring.rules import RulesError
from storage.evalset import EvalSetError
from storage.targets import DEFAULT_PATHS, DEFAULT_PROBABILITY_POINTER, TargetError

ALL_TARGETS = "(all targets)"
KIND_LABELS = {"Classifier": TargetKind.CLASSIFIER, "LLM (openai-chat)": TargetKind.OPENAI_CHAT}
# Carried over the rerun after a save: URL warnings to show, and the target to keep selected.
WARNINGS_KEY = "admin_url_warnings"
RENAMED_KEY = "admin_renamed_to"
# Set after a registration: the next run empties the token field before drawing it, so the key
# typed does not stay in the page (a widget's state can only be set before the widget is drawn).
CLEAR_TOKEN_KEY = "admin_clear_reg_token"

st.title("Admin")
settings = ui.page_settings()
if settings is None or not ui.admin_gate(settings, key="admin"):
    st.stop()
url = settings.database_url
ui.show_flash()
for url_warning in st.session_state.pop(WARNINGS_KEY, []):
    st.warning(ui.plain(url_warning))  # it quotes a URL a team may have chosen

try:
    rows = targets.target_rows(url)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()
names = [r["name"] for r in rows]

targets_tab, eval_tab, grading_tab, stress_tab, drift_tab, alerts_tab = st.tabs(
    ["Targets", "Evaluation set", "Grading", "Stress", "Drift", "Alerts"]
)

with targets_tab:
    if rows:
        table = pd.DataFrame(rows)[["name", "kind", "model", "base_url", "predict_path", "health_path",
                                    "token", "registered_at", "active"]]
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        st.info("No targets registered yet.")

    st.subheader("Register a target")
    # Outside the form: a form's widgets do not rerun the page, and the kind decides the fields.
    kind_label = st.radio("Kind", list(KIND_LABELS), horizontal=True, key="reg_kind")
    kind = KIND_LABELS[kind_label]
    chat = kind == TargetKind.OPENAI_CHAT
    default_predict, default_health = DEFAULT_PATHS[kind]
    if st.session_state.pop(CLEAR_TOKEN_KEY, False):
        st.session_state["reg_token"] = ""
    with st.form("register", clear_on_submit=False):
        name = st.text_input("Name", key="reg_name")
        base_url = st.text_input("Base URL", placeholder="http://team.example:8080", key="reg_url")
        if chat:
            token = st.text_input("Bearer token the service demands (required, never shown again)",
                                  type="password", key="reg_token")
            model = st.text_input("Model (blank: the first its /v1/models lists)", key="reg_model")
        else:
            token = st.text_input("Bearer token (optional, never shown again)", type="password",
                                  key="reg_token")
        c1, c2, c3 = st.columns(3)
        predict_path = c1.text_input("Predict path", default_predict, key=f"reg_predict_{kind}")
        health_path = c2.text_input("Health path", default_health, key=f"reg_health_{kind}")
        if not chat:
            pointer = c3.text_input("Probability pointer", DEFAULT_PROBABILITY_POINTER, key="reg_pointer")
            template = st.text_area("Request template (optional JSON with {text} and {id})",
                                    key="reg_template")
        registered_text = st.text_input("Registered at (optional, ISO 8601 with zone)", key="reg_at")
        register = st.form_submit_button("Register")
    if register:
        try:
            registered_at = grading.parse_defense_at(registered_text)
            fields = dict(name=name, base_url=base_url, token=token or None, predict_path=predict_path,
                          health_path=health_path, registered_at=registered_at, kind=kind)
            if chat:
                fields["model"] = model.strip() or None
            else:
                fields.update(request_template=template.strip() or None, probability_pointer=pointer)
            with st.spinner("Registering…"):
                created, warnings = targets.register_target(url, **fields)
        except (TargetError, ValueError) as exc:
            st.error(str(exc))
        except Exception as exc:  # noqa: BLE001
            ui.show_error(exc)
        else:
            st.session_state[WARNINGS_KEY] = warnings
            st.session_state[CLEAR_TOKEN_KEY] = True
            ui.flash_success(f"Registered {ui.plain(created)}.")

    if names:
        st.subheader("Edit a target")
        renamed = st.session_state.pop(RENAMED_KEY, None)
        if renamed in names:
            st.session_state["edit_target"] = renamed
        chosen = st.selectbox("Target", names, key="edit_target")
        current = next(r for r in rows if r["name"] == chosen)
        editing_chat = current["kind"] == TargetKind.OPENAI_CHAT
        with st.form(f"edit_{chosen}"):
            st.caption(f"Kind: {current['kind']}")
            new_name = st.text_input("Name (renaming keeps id, history and registration time)", chosen,
                                     key=f"edit_name_{chosen}")
            new_url = st.text_input("Base URL", current["base_url"], key=f"edit_url_{chosen}")
            e1, e2, e3 = st.columns(3)
            new_predict = e1.text_input("Predict path", current["predict_path"], key=f"edit_predict_{chosen}")
            new_health = e2.text_input("Health path", current["health_path"], key=f"edit_health_{chosen}")
            if editing_chat:
                new_model = e3.text_input("Model", current["model"] or "", key=f"edit_model_{chosen}")
            else:
                new_pointer = e3.text_input("Probability pointer", current["probability_pointer"],
                                            key=f"edit_pointer_{chosen}")
                new_template = st.text_area("Request template", current["request_template"] or "",
                                            key=f"edit_template_{chosen}")
            new_token = st.text_input("New bearer token (blank keeps the current one)", type="password",
                                      key=f"edit_token_{chosen}")
            save = st.form_submit_button("Save changes")
        if save:
            kind_changes = (
                {"model": new_model.strip() or None} if editing_chat
                else {"probability_pointer": new_pointer,
                      "request_template": new_template.strip() or None}
            )
            try:
                saved, warnings = targets.edit_target(
                    url, chosen, name=new_name, base_url=new_url, predict_path=new_predict,
                    health_path=new_health, token=new_token or None, **kind_changes,
                )
            except TargetError as exc:
                st.error(str(exc))
            except Exception as exc:  # noqa: BLE001
                ui.show_error(exc)
            else:
                st.session_state[WARNINGS_KEY] = warnings
                st.session_state[RENAMED_KEY] = saved
                ui.flash_success(f"Saved {ui.plain(saved)}." if saved == chosen
                                 else f"Renamed {ui.plain(chosen)} to {ui.plain(saved)}.")

        st.markdown("**Change history**")
        try:
            changes = targets.target_change_rows(url, chosen)
        except Exception as exc:  # noqa: BLE001
            ui.show_error(exc)
            changes = []
        if changes:
            history = pd.DataFrame(changes)
            history["at"] = history["at"].map(ui.time_text)
            st.dataframe(history, hide_index=True, width="stretch")
        else:
            st.caption("No changes recorded since registration.")

        st.subheader("Activate or deactivate")
        a1, a2 = st.columns([3, 1])
        toggled = a1.selectbox("Target", names, key="active_target")
        is_active = next(r["active"] for r in rows if r["name"] == toggled)
        label = "Deactivate" if is_active else "Activate"
        if a2.button(label, key="active_button"):
            try:
                targets.set_target_active(url, toggled, not is_active)
            except Exception as exc:  # noqa: BLE001
                ui.show_error(exc)
            else:
                ui.flash_success(f"{toggled} is now {'inactive' if is_active else 'active'}.")

with eval_tab:
    try:
        st.metric("Evaluation samples loaded", grading.eval_sample_count(url))
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
    st.caption("A CSV with columns id,text,label (label 0 or 1). Loading replaces the whole set; "
               "a file with any error loads nothing.")
    upload = st.file_uploader("Evaluation CSV", type=["csv"], key="eval_upload")
    if upload is not None and st.button("Load evaluation set", key="eval_load"):
        try:
            count = grading.load_eval_csv(url, upload.getvalue())
        except EvalSetError as exc:
            st.error(f"Nothing loaded: {exc}")
        except Exception as exc:  # noqa: BLE001
            ui.show_error(exc)
        else:
            ui.flash_success(f"Loaded {count} samples.")

with grading_tab:
    try:
        cfg = grading.grading_config(url)
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
        cfg = {"defense_at": None, "rules_toml": None}
    with st.form("grading"):
        defense_text = st.text_input(
            "Defense time (ISO 8601 with zone; blank: CLFWATCH_DEFENSE_AT, else now)",
            cfg["defense_at"].isoformat() if cfg["defense_at"] else "", key="grading_defense",
        )
        rules_text = st.text_area("Rules (TOML; blank: CLFWATCH_RULES_FILE, else the defaults)",
                                  cfg["rules_toml"] or "", height=240, key="grading_rules")
        save_grading = st.form_submit_button("Save grading")
    if save_grading:
        try:
            grading.save_grading(url, defense_at=grading.parse_defense_at(defense_text),
                                 rules_toml=rules_text)
        except (RulesError, ValueError) as exc:
            st.error(f"Not saved: {exc}")
        except Exception as exc:  # noqa: BLE001
            ui.show_error(exc)
        else:
            ui.flash_success("Grading configuration saved.")

with stress_tab:
    ui.stress_launcher(url, names, key="admin")

with drift_tab:
    with st.form("drift"):
        drift_target = st.selectbox("Target", [ALL_TARGETS, *names], key="drift_target")
        recompute = st.form_submit_button("Recompute drift")
    if recompute:
        with st.spinner("Computing drift reports…"):
            try:
                made = drift_runs.recompute_drift(url, None if drift_target == ALL_TARGETS else drift_target)
            except Exception as exc:  # noqa: BLE001
                ui.show_error(exc)
            else:
                st.success(f"Drift recomputed for {made} target(s).")

with alerts_tab:
    try:
        channels = incidents.alert_channel_rows(url)
        failures = incidents.delivery_failure_rows(url)
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
        channels, failures = [], []
    st.subheader("Alert channels")
    if channels:
        st.dataframe(pd.DataFrame(channels), hide_index=True, width="stretch")
    else:
        st.caption("No alert channels. Add one with: clfwatch alerts add NAME URL (or --all URL).")
    st.subheader("Delivery failures")
    if failures:
        st.error(f"{len(failures)} message(s) did not get through after their retries.")
        st.dataframe(pd.DataFrame(failures), hide_index=True, width="stretch")
    else:
        st.caption("Every alert message got through.")
