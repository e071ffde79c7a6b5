"""My team: a team signs in with its key, sees its own grade and failures, and changes its target.

For an openai-chat target it also shows the key enforcement check (red when anyone can use the
service), the speed of its streamed answers and its failed chat probes with their schema reasons."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import llm_views, teams, ui
from teamapi.service import BadKey, TeamError

KEY_STATE = "clfwatch_team_key"
NEW_KEY_STATE = "clfwatch_team_new_key"
COMPONENT_LABELS = {"latency": "latency", "uptime": "uptime", "rate200": "200-rate", "auc": "AUC",
                    "ttft": "time to first token"}
LLM_WINDOW_H = 24  # the speed and failed chat probes shown: the last day

st.title("My team")
settings = ui.page_settings()
if settings is None:
    st.stop()

key = st.session_state.get(KEY_STATE)
if not key:
    with st.form("team_sign_in"):
        entered = st.text_input("Team key", type="password", key="team_key_input",
                                help="The key you got when your team registered.")
        signed_in = st.form_submit_button("Sign in")
    if signed_in:
        try:
            teams.status(settings, entered)
        except TeamError as exc:
            st.error(str(exc))
        except Exception as exc:  # noqa: BLE001
            ui.show_error(exc)
        else:
            st.session_state[KEY_STATE] = entered.strip()
            st.rerun()
    st.stop()

# Every render checks the key again: a key replaced through the API stops working here too.
try:
    me: dict[str, Any] = teams.status(settings, key)
except BadKey:
    st.session_state.pop(KEY_STATE, None)
    st.error("Your key no longer works (a new one was made); sign in with the new key.")
    st.stop()
except TeamError as exc:
    st.error(str(exc))
    st.stop()
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    st.stop()

target = me["target"]
head, out = st.columns([5, 1])
head.subheader(teams.plain(target["name"]))
if out.button("Sign out", key="team_sign_out"):
    st.session_state.pop(KEY_STATE, None)
    st.session_state.pop(NEW_KEY_STATE, None)
    st.rerun()
ui.show_flash()

new = st.session_state.pop(NEW_KEY_STATE, None)
if new:
    st.success("Your new key — shown this once; the old one no longer works:")
    st.code(new, language=None)

grade = me["grade"]
cols = st.columns(4)
cols[0].metric("Rank", f"{grade['rank']} of {grade['of']}" if grade else "—")
cols[1].metric("Total", f"{grade['total']:.3f}" if grade else "—")
cols[2].metric("Lifetime multiplier", f"{grade['multiplier']:.3f}" if grade else "—")
lifetime = me["lifetime_s"]
cols[3].metric("Lifetime", f"{lifetime / 86400:.1f} days" if lifetime is not None else "—")
st.caption(f"Registered {me['registered_at']} · target id {target['id']}")

if grade:
    rows = [
        {"component": COMPONENT_LABELS.get(name, name), "raw": comp["raw"], "points": comp["points"],
         "why": comp["reason"]}
        for name, comp in grade["components"].items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

try:
    kind = llm_views.target_kinds(settings.database_url).get(target["name"], "classifier")
    llm_view = (llm_views.llm_team_view(settings.database_url, target["name"], LLM_WINDOW_H)
                if kind == "openai-chat" else None)
except Exception as exc:  # noqa: BLE001
    ui.show_error(exc)
    llm_view = None
if llm_view is not None:
    st.markdown("**Key enforcement**")
    llm_views.show_key_enforcement(llm_view["auth"])
    components = (grade or {}).get("components", {})
    graded = {f"{c}_raw": components.get(c, {}).get("raw") for c in ("ttft", "uptime", "rate200")}
    llm_views.show_llm_measures(llm_view, graded)
    llm_views.show_chat_failures(llm_view)

st.markdown("**Your target**")
own_fields = ("model",) if target.get("kind") == "openai-chat" else ("probability_pointer", "template")
shown = {k: target.get(k) for k in ("kind", "url", "predict_path", "health_path", *own_fields)}
shown["token"] = "set" if target["has_token"] else "none"
shown["probed"] = "yes" if target["active"] else "no (switched off by the instructor)"
st.dataframe(pd.DataFrame([{"field": k, "value": "" if v is None else str(v)} for k, v in shown.items()]),
             hide_index=True, width="stretch")

st.markdown(f"**Last {len(me['failed_probes'])} failed probes**")
if me["failed_probes"]:
    failures = pd.DataFrame(me["failed_probes"])
    st.dataframe(failures, hide_index=True, width="stretch")
else:
    st.caption("No failed probes.")

st.markdown("**Changes to your target**")
if me["changes"]:
    changes = pd.DataFrame(me["changes"])
    changes["fields"] = changes["fields"].map(", ".join)
    # A plain table: who changed which fields when (field names and actors are ours, not typed).
    st.table(changes.set_index("at"))
else:
    st.caption("No changes since registration.")

st.markdown("**Change your target**")
chat = target.get("kind") == "openai-chat"  # its model instead of the classifier's pointer and template
with st.form("team_change"):
    new_name = st.text_input("Team name", target["name"], key="team_edit_name")
    new_url = st.text_input("Base URL", target["url"], key="team_edit_url")
    c1, c2, c3 = st.columns(3)
    new_predict = c1.text_input("Chat path" if chat else "Predict path", target["predict_path"],
                                key="team_edit_predict")
    new_health = c2.text_input("Health path", target["health_path"], key="team_edit_health")
    if chat:
        new_model = c3.text_input("Model", target["model"] or "", key="team_edit_model")
    else:
        new_pointer = c3.text_input("Probability pointer", target["probability_pointer"],
                                    key="team_edit_pointer")
        new_template = st.text_area("Request template (empty: the contract's body)", target["template"] or "",
                                    key="team_edit_template")
    new_token = st.text_input("New bearer token (empty: keep)", type="password", key="team_edit_token")
    drop_token = False if chat else st.checkbox("Remove the bearer token", key="team_edit_drop_token")
    save = st.form_submit_button("Save changes")
if save:
    wanted: dict[str, Any] = {}
    edited = [("name", new_name), ("url", new_url), ("predict_path", new_predict),
              ("health_path", new_health)]
    edited += [("model", new_model.strip())] if chat else [("probability_pointer", new_pointer)]
    for field, value in edited:
        if value != target[field]:
            wanted[field] = value
    if not chat and (new_template.strip() or None) != target["template"]:
        wanted["template"] = new_template.strip() or None
    if drop_token:
        wanted["token"] = None
    elif new_token:
        wanted["token"] = new_token
    if not wanted:
        st.info("Nothing to change.")
    else:
        try:
            teams.change(settings, key, wanted)
        except TeamError as exc:
            st.error(str(exc))
        except Exception as exc:  # noqa: BLE001
            ui.show_error(exc)
        else:
            ui.flash_success("Saved: " + ", ".join(sorted(wanted)) + ".")

st.markdown("**Team key**")
if st.button("Make a new key (the old one stops working at once)", key="team_rotate"):
    try:
        fresh = teams.new_key(settings, key)
    except TeamError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
    else:
        st.session_state[KEY_STATE] = fresh
        st.session_state[NEW_KEY_STATE] = fresh
        st.rerun()

st.markdown("**Tell us where to tell you**")
st.caption("When your classifier goes down, and when it is back, a message goes to each channel below. "
           "A channel is an Apprise URL: `tgram://BOT_TOKEN/CHAT_ID`, `mailto://user:password@example.com`, "
           "`json://your-host/hook`, ... (https://github.com/caronc/apprise/wiki). It is never shown back "
           "in full.")
try:
    own_channels = teams.notifications(settings, key)
except TeamError as exc:
    st.error(str(exc))
    own_channels = []
for channel in own_channels:
    c1, c2 = st.columns([5, 1])
    c1.text(f"{channel['url']}  (added {channel['created_at']})")
    if c2.button("Remove", key=f"team_channel_remove_{channel['id']}"):
        try:
            teams.remove_notification(settings, key, int(channel["id"]))
        except TeamError as exc:
            st.error(str(exc))
        else:
            ui.flash_success("Channel removed.")
if not own_channels:
    st.caption("No channels yet: nobody is told when your classifier goes down.")
with st.form("team_channel_add", clear_on_submit=True):
    channel_url = st.text_input("Apprise URL", type="password", key="team_channel_url")
    add = st.form_submit_button("Add channel")
if add and channel_url.strip():
    try:
        teams.add_notification(settings, key, channel_url)
    except TeamError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc)
    else:
        ui.flash_success("Channel added; you will get a message when an incident opens or ends.")
