"""What the pages show of openai-chat targets: the LLM board, and a target's speed, failed chat
probes and key enforcement on the Team and My team pages.

Reads come from ``storage.chat_measures`` and ``storage.auth_checks`` (cached like the other team
reads); the grade itself comes from the shared board (``dashboard.scoreboard``). Texts are for
students: the exact cause and the fix, nothing of clfwatch's insides.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from alerts.messages import reason_phrase
from core.contract import TargetKind
from dashboard import ui
from dashboard.db import QUERY_TTL_S, session_for
from dashboard.incidents import down_text
from storage.auth_checks import latest_auth_check
from storage.chat_measures import chat_failures, chat_measures
from storage.targets import get_target, list_targets

CHAT_FAILURES_LIMIT = 20
AUTH_NOT_ENFORCED = "auth_not_enforced"
TOKENS_SOURCE_TEXT = {
    "usage": "counted by your server (the stream's usage)",
    "chunks": "counted by clfwatch from the content chunks (your stream sent no usage)",
    "mixed": "partly from your server's usage, partly counted from the content chunks",
}
# The fix for an open service, for the engines the course uses.
KEY_FIX = (
    "Fix: make the server refuse every request that lacks `Authorization: Bearer <your key>` with "
    "HTTP 401: llama.cpp's server and vLLM take `--api-key <your key>`, LiteLLM's proxy a "
    "`master_key`; behind your own code, check the header before calling the model. "
    "clfwatch checks again within the hour."
)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def target_kinds(url: str) -> dict[str, str]:
    """Target name to its kind (``classifier`` or ``openai-chat``), for lists that show it."""
    with session_for(url, "list the targets") as session:
        return {v.name: str(v.kind) for v in list_targets(session)}


def kind_label(name: str, kinds: dict[str, str]) -> str:
    """A target's name with its kind, for a select box: ``name · openai-chat``."""
    return f"{name} · {kinds.get(name, TargetKind.CLASSIFIER.value)}"


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def llm_team_view(url: str, name: str, window_h: float) -> dict[str, Any]:
    """One openai-chat target over the last ``window_h`` hours (never before its registration): the
    speed of its newest ok chat probes, its failed chat probes with their schema reasons, and its
    newest key-enforcement check. Nothing here is graded; the grade is the board's."""
    end = datetime.now(UTC)
    with session_for(url, "load the LLM measures") as session:
        view = get_target(session, name)
        start = min(max(end - timedelta(hours=window_h), view.registered_at), end)
        measures = chat_measures(session, view.id, start, end)
        failures = chat_failures(session, view.id, start, end, limit=CHAT_FAILURES_LIMIT)
        auth = latest_auth_check(session, view.id)
    return {
        "start": start,
        "end": end,
        "model": view.model,
        "measures": {
            "n": measures.n, "ttft_p50_ms": measures.ttft_p50_ms, "ttft_p95_ms": measures.ttft_p95_ms,
            "itl_ms": measures.itl_ms, "tokens_per_s": measures.tokens_per_s, "e2e_ms": measures.e2e_ms,
            "e2e_p95_ms": measures.e2e_p95_ms, "tokens_source": measures.tokens_source,
        },
        "failures": [
            {"started_at": f.started_at, "outcome": f.outcome, "status_code": f.status_code,
             "latency_ms": f.latency_ms, "reason": f.reason}
            for f in failures
        ],
        "auth": [
            {"started_at": a.started_at, "outcome": a.outcome, "status_code": a.status_code,
             "detail": a.detail}
            for a in auth
        ],
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def show_key_enforcement(auth: list[dict[str, Any]]) -> None:
    """The newest key-enforcement check: red when anyone can use the service."""
    if not auth:
        st.info("Key enforcement: not checked yet. clfwatch sends a request without your key and one "
                "with a wrong key when your target is registered and every hour; both must be refused.")
        return
    at = ui.time_text(auth[0]["started_at"])
    open_rows = [a for a in auth if a["outcome"] == AUTH_NOT_ENFORCED]
    other = [a for a in auth if a["outcome"] not in ("ok", AUTH_NOT_ENFORCED)]
    if open_rows:
        seen = "; ".join(a["detail"] for a in open_rows if a["detail"])
        seen = f" What clfwatch saw: {seen}." if seen else ""
        st.error(f"Key not enforced: your service answered HTTP 200 to a request without your key or "
                 f"with a wrong one (checked {at}): anyone who finds its address can use it, on your "
                 f"compute.{seen} {KEY_FIX}")
    elif other:
        why = "; ".join(a["detail"] or reason_phrase(a["outcome"], a["status_code"]) for a in other)
        st.warning(f"Key enforcement not confirmed (checked {at}): {why}. Requests without your key or "
                   "with a wrong one must get 401 or 403; clfwatch checks again within the hour.")
    else:
        codes = sorted({str(a["status_code"]) for a in auth if a["status_code"] is not None})
        refused = f" (HTTP {', '.join(codes)})" if codes else ""
        st.success(f"Key enforced: a request without a key and one with a wrong key were both refused"
                   f"{refused}, checked {at}.")


def show_llm_measures(llm: dict[str, Any], row: dict[str, Any]) -> None:
    """TTFT, inter-token latency, tokens per second, end-to-end latency, uptime and 200-rate."""
    m = llm["measures"]
    st.markdown("**Speed of your streamed answers**")
    if not m["n"]:
        st.info("No ok chat probe in this window yet, so nothing to time: each probe streams one short "
                "chat completion and needs HTTP 200 with a valid OpenAI-style stream ending in "
                "`data: [DONE]`. See the failed chat probes below for what went wrong.")
    cols = st.columns(6)
    cols[0].metric("TTFT p50", _ms(m["ttft_p50_ms"]), help="time to the first content token")
    cols[1].metric("TTFT p95", _ms(m["ttft_p95_ms"]))
    cols[2].metric("Inter-token latency", _ms(m["itl_ms"]), help="mean gap between content chunks")
    cols[3].metric("Tokens per second", "—" if m["tokens_per_s"] is None else f"{m['tokens_per_s']:.1f}")
    cols[4].metric("End-to-end", _ms(m["e2e_ms"]), help="request sent to the end of the stream (mean)")
    cols[5].metric("End-to-end p95", _ms(m["e2e_p95_ms"]))
    graded = st.columns(3)
    graded[0].metric("Uptime (graded)", _pct(row.get("uptime_raw")), help="health probes answered ok")
    graded[1].metric("200-rate (graded)", _pct(row.get("rate200_raw")), help="chat probes answered HTTP 200")
    ttft = row.get("ttft_raw")
    graded[2].metric(f"TTFT {row.get('ttft_statistic', 'p95')} (graded)",
                   "—" if ttft is None else f"{1000 * ttft:.0f} ms", help="over the whole grading window")
    source = TOKENS_SOURCE_TEXT.get(m["tokens_source"] or "", "")
    if m["n"]:
        model = f" · model `{llm['model']}`" if llm.get("model") else ""
        st.caption(f"Over the newest {m['n']} ok chat probes of this window{model}. Output tokens "
                   + (source if source else "not counted") + ".")


def show_chat_failures(llm: dict[str, Any]) -> None:
    """Failed chat probes: what went wrong, with the contract check's reason when one answered."""
    st.markdown("**Failed chat probes**")
    failures = llm["failures"]
    if not failures:
        st.caption("No failed chat probes in this window.")
        return
    table = pd.DataFrame({
        "time": [ui.time_text(f["started_at"]) for f in failures],
        "outcome": [f["outcome"] for f in failures],
        "why": [reason_phrase(f["outcome"], f["status_code"]) for f in failures],
        "what was wrong": [f["reason"] or "" for f in failures],
        "status": ["no answer" if f["status_code"] is None else f"HTTP {f['status_code']}" for f in failures],
        "latency": [_ms(f["latency_ms"]) for f in failures],
    })
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"what was wrong": st.column_config.TextColumn(width="large")})
    st.caption("'What was wrong' names the field of your answer that breaks the OpenAI format (as the "
               "official client reads it in strict mode), e.g. `choices[0].message.role: expected "
               "\"assistant\"`.")


def show_llm_board(rows: list[dict[str, Any]], incidents: dict[str, Any], now: datetime) -> None:
    """The openai-chat board: rank, status and grade (total), then TTFT, tokens/s, uptime and
    200-rate with their points."""
    st.subheader("LLM endpoints (openai-chat)")
    if not rows:
        st.caption("No openai-chat targets registered.")
        return
    statistic = rows[0].get("ttft_statistic", "p95")
    st.caption(f"Ranked among themselves under the [llm] rules: time to first token ({statistic}), "
               "uptime and 200-rate of chat probes; no AUC.")
    board = pd.DataFrame([
        {
            "rank": r["rank"], "target": r["target"], "kind": r["kind"], "status": r["status"],
            "incident": (down_text(incidents[r["target"]]["started_at"], now)
                         if r["target"] in incidents else ""),
            "total": r["total"], "base": r["base"], "multiplier": r["multiplier"],
            "stress": "—" if r["stress_points"] is None else f"{r['stress_points']}/10",
            "last probe": ui.age_text(r["last_probe_at"], now),
        }
        for r in rows
    ])
    if not any(r["target"] in incidents for r in rows):
        board = board.drop(columns=["incident"])
    st.table(board.style.hide(axis="index")
             .format({"total": "{:.3f}", "base": "{:.3f}", "multiplier": "{:.3f}"}, na_rep="—")
             .set_properties(subset=["target"], **{"word-break": "break-word", "min-width": "12em"}))
    ttft_label = f"TTFT {statistic} (ms)"
    measures = pd.DataFrame([
        {
            "rank": r["rank"], "target": r["target"],
            ttft_label: None if r.get("ttft_raw") is None else 1000 * r["ttft_raw"],
            "TTFT pts": r.get("ttft_points"),
            "tokens/s": r.get("tokens_per_s"),
            "tokens from": r.get("tokens_source") or "",
            "uptime (%)": None if r.get("uptime_raw") is None else 100 * r["uptime_raw"],
            "uptime pts": r.get("uptime_points"),
            "200-rate (%)": None if r.get("rate200_raw") is None else 100 * r["rate200_raw"],
            "200-rate pts": r.get("rate200_points"),
        }
        for r in rows
    ])
    st.dataframe(
        measures, hide_index=True, width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn(width=40, pinned=True),
            "target": st.column_config.TextColumn(width="medium", pinned=True),
            ttft_label: st.column_config.NumberColumn(format="%.0f", width="small"),
            "tokens/s": st.column_config.NumberColumn(
                format="%.1f", width="small", help="newest ok chat probes of the window; shown, not graded"),
            "uptime (%)": st.column_config.NumberColumn(format="%.2f", width="small"),
            "200-rate (%)": st.column_config.NumberColumn(format="%.2f", width="small"),
            **{c: st.column_config.NumberColumn(format="%.3f", width="small")
               for c in ("TTFT pts", "uptime pts", "200-rate pts")},
        },
    )
    ruled = [{"target": r["target"], "component": "TTFT" if k == "ttft" else k, "0 points because": why}
             for r in rows for k, why in r["ruled_zero"].items()]
    if ruled:
        st.caption("Graded 0 by a rule, not by a measure:")
        st.dataframe(pd.DataFrame(ruled), hide_index=True, width="stretch")
    st.download_button("Download LLM board CSV", measures.to_csv(index=False).encode(),
                       file_name="scoreboard-llm.csv", mime="text/csv", key="llm_board_csv")
