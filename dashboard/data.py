"""Everything the dashboard pages read or change, and nothing they show.

Pages hold UI only; they call these functions. Reads are cached for a few seconds with
``st.cache_data`` (keyed by the database URL, so two databases never share an answer) and
return plain, picklable values: the page never holds a session, never sees a token or a
hidden label. Writes (admin actions) clear the caches so the next render shows them.
Failures raise ``DashboardError`` with a short message a page may show; details go to the log.
"""

from __future__ import annotations

import hmac
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from alerts.messages import duration_text
from core.errors import ClfwatchError
from core.redaction import redact_evidence
from core.settings import Settings, get_settings
from storage.alerts import all_channels, delivery_failures, incidents_of, open_incidents
from storage.dashboard_queries import (
    hourly_counts,
    last_health_probes,
    newest_prober_interval_s,
    recent_failures,
)
from storage.engine import engine_for
from storage.evalset import EvalSetError, eval_count, parse_eval_csv, replace_eval_set
from storage.grading import get_grading_config, set_grading_config
from storage.probes import prober_gaps
from storage.stress import list_stress_runs
from storage.targets import (
    TargetError,
    add_target,
    get_target,
    list_targets,
    probe_targets,
    set_active,
    target_changes,
    update_target,
)

log = logging.getLogger(__name__)

SCOREBOARD_TTL_S = 30  # the grade moves slowly; a page may be half a minute behind
QUERY_TTL_S = 15
STRESS_TTL_S = 2  # short, so a running stress run shows its verdicts as they land
STALE_AFTER_INTERVALS = 3  # a health probe older than this many probe intervals is stale
STALE_MIN_S = 60.0
RECENT_FAILURES_LIMIT = 20
STRESS_RUNS_LIMIT = 20
TEAM_WINDOW_HOURS = (24, 72, 168)
BUCKET = timedelta(hours=1)  # rollups are hourly
MIN_GAP_SHOWN = timedelta(minutes=1)
# The ten scenario names of DESIGN.md, in their order. Not imported from ``stress``: that
# package brings Locust (and gevent's monkey-patching) with it, which must stay out of here.
SCENARIO_ORDER = (
    "contract", "malformed_json", "schema_violations", "huge_payload", "unicode_edge",
    "injection", "http_abuse", "spike", "recovery", "slow_clients",
)
COMPONENT_LABELS = {"latency": "latency", "uptime": "uptime", "rate200": "200-rate", "auc": "AUC"}
_MIN_TOKEN_CHARS = 4


class DashboardError(ClfwatchError):
    """A read or an action failed; the message is short and safe to show on a page."""


# --- settings, sessions ---------------------------------------------------------------


def current_settings() -> Settings:
    """The process settings (``CLFWATCH_*``); SettingsError names a bad variable."""
    return get_settings()


@st.cache_resource(show_spinner=False)
def _sessions(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def _session(url: str, what: str, sessions: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """A session that commits on success; any database error becomes a short DashboardError."""
    session = (sessions or _sessions(url))()
    try:
        yield session
        session.commit()
    except (DashboardError, TargetError, EvalSetError):
        session.rollback()
        raise
    except Exception as exc:
        session.rollback()
        log.warning("event=dashboard_query_failed what=%s error=%s", what, type(exc).__name__)
        raise DashboardError(f"Could not {what} right now; try again in a moment.") from None
    finally:
        session.close()


def clear_caches() -> None:
    """After a write, so every page shows the change at once."""
    st.cache_data.clear()
    _forget_boards()


# --- admin ------------------------------------------------------------------------------


def admin_enabled(settings: Settings) -> bool:
    return settings.admin_password is not None


def check_admin_password(settings: Settings, entered: str) -> bool:
    """Compare in constant time; always False when admin is off."""
    if settings.admin_password is None:
        return False
    expected = settings.admin_password.get_secret_value().encode()
    ok = hmac.compare_digest(entered.encode(), expected)
    if not ok:
        log.warning("event=admin_login_refused")
    return ok


# --- scoreboard -------------------------------------------------------------------------


def _status(health: Any, active: bool, now: datetime, stale_after_s: float) -> str:
    if not active:
        return "inactive"
    if health is None:
        return "never probed"
    if health.outcome != "ok":
        return "down"
    if (now - health.started_at).total_seconds() > stale_after_s:
        return "stale"
    return "up"


@dataclass
class _BoardSlot:
    """The newest scoreboard of one database, shared by every viewer of this process."""

    compute_lock: threading.Lock = field(default_factory=threading.Lock)  # one computation at a time
    value: dict[str, Any] | None = None
    computed_at: float = 0.0  # time.monotonic() of the computation
    refreshing: bool = False
    generation: int = 0  # bumped by clear_caches(): a refresh started before a write is dropped


_BOARDS: dict[str, _BoardSlot] = {}
_BOARDS_LOCK = threading.Lock()


def _board_slot(url: str) -> _BoardSlot:
    with _BOARDS_LOCK:
        return _BOARDS.setdefault(url, _BoardSlot())


def _forget_boards() -> None:
    with _BOARDS_LOCK:
        for slot in _BOARDS.values():
            slot.value = None
            slot.generation += 1


def scoreboard_view(url: str) -> dict[str, Any]:
    """The graded board as rows for a table, plus each target's "why" lines.

    ``rows`` are in rank order; ``status`` is up, down (newest health probe failed), stale (no
    health probe for a few intervals), never probed or inactive.

    Grading a week of a course's probes takes seconds, and every viewer sees the same board, so
    it is computed once per process and served from memory: when it is older than
    SCOREBOARD_TTL_S the stale board is served while one background thread grades anew. Only
    the first view after start (or after an admin change) waits for the computation.
    """
    slot = _board_slot(url)
    with _BOARDS_LOCK:
        value, generation = slot.value, slot.generation
        if (value is not None and not slot.refreshing
                and time.monotonic() - slot.computed_at > SCOREBOARD_TTL_S):
            slot.refreshing = True
            threading.Thread(target=_refresh_board, args=(url, slot, generation, _sessions(url)),
                             name="clfwatch-board-refresh", daemon=True).start()
    if value is not None:
        return value
    with slot.compute_lock:
        with _BOARDS_LOCK:
            if slot.value is not None:  # another viewer computed it while this one waited
                return slot.value
            generation = slot.generation
        value = _compute_board(url, _sessions(url))
        with _BOARDS_LOCK:
            if slot.generation == generation:
                slot.value, slot.computed_at = value, time.monotonic()
    return value


def _refresh_board(url: str, slot: _BoardSlot, generation: int, sessions: sessionmaker[Session]) -> None:
    try:
        with slot.compute_lock:
            value = _compute_board(url, sessions)
        with _BOARDS_LOCK:
            if slot.generation == generation:
                slot.value, slot.computed_at = value, time.monotonic()
    except Exception as exc:  # the stale board stays; the next view tries again
        log.warning("event=board_refresh_failed error=%s", type(exc).__name__)
    finally:
        with _BOARDS_LOCK:
            slot.refreshing = False


def _compute_board(url: str, sessions: sessionmaker[Session]) -> dict[str, Any]:
    from scoring.board import explain_target, grade_now
    from scoring.rules import load_grading_defaults

    settings = current_settings()
    now = datetime.now(UTC)
    with _session(url, "load the scoreboard", sessions) as session:
        board = grade_now(session, load_grading_defaults(rules_file=settings.rules_file,
                                                         defense_at=settings.defense_at))
        health = last_health_probes(session)
        interval_s = newest_prober_interval_s(session) or settings.probe_interval_s
        active = {v.id: v.active for v in list_targets(session)}
    stale_after_s = max(STALE_MIN_S, STALE_AFTER_INTERVALS * max(interval_s, settings.probe_interval_s))
    rows = []
    for t in board.targets:
        status = _status(health.get(t.target_id), active.get(t.target_id, True), now, stale_after_s)
        row: dict[str, Any] = {"rank": t.rank, "target": t.name, "status": status,
                               "down_now": status in ("down", "stale", "never probed")}
        for key, comp in t.components.items():
            row[f"{key}_raw"] = comp.raw
            row[f"{key}_points"] = comp.points
        row.update(
            # components graded 0 by a rule rather than by a measure, with the rule's reason
            ruled_zero={k: c.reason for k, c in t.components.items()
                        if c.points is not None and (c.raw is None or (k == "auc" and t.auc_excluded))},
            auc_coverage=t.auc_coverage,
            base=t.base,
            multiplier=t.multiplier,
            total=t.total,
            stress_points=t.stress_points,
            last_probe_at=t.last_probe_at,
        )
        rows.append(row)
    # Board order: the rank already holds the tie-break by base score, then the name.
    rows.sort(key=lambda r: (r["rank"], r["target"]))
    doc = board.to_dict()
    return {
        "at": doc["at"],
        "rules": doc["rules"],
        "rows": rows,
        "why": {t.name: list(explain_target(board, t.name)) for t in board.targets},
        "reasons": {t.name: {k: c.reason for k, c in t.components.items()} for t in board.targets},
    }


# --- targets ----------------------------------------------------------------------------


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def target_rows(url: str) -> list[dict[str, Any]]:
    """Every target without its token: only whether one is set."""
    with _session(url, "list the targets") as session:
        views = list_targets(session)
    return [
        {
            "name": v.name, "base_url": v.base_url, "predict_path": v.predict_path,
            "health_path": v.health_path, "request_template": v.request_template,
            "probability_pointer": v.probability_pointer,
            "token": "set" if v.has_token else "none",
            "registered_at": v.registered_at, "active": v.active,
        }
        for v in views
    ]


def target_names(url: str) -> list[str]:
    return [r["name"] for r in target_rows(url)]


def register_target(url: str, **fields: Any) -> tuple[str, list[str]]:
    """Register a target; TargetError (safe to show) when a field is invalid or the name taken.

    Returns the stored name and the likely URL mistakes, so the page can warn right away.
    """
    with _session(url, "register the target") as session:
        view = add_target(session, **fields)
    log.info("event=target_registered name=%s", view.name)
    clear_caches()
    return view.name, list(view.warnings)


def edit_target(url: str, name: str, /, **changes: Any) -> tuple[str, list[str]]:
    """Change fields of a target as the admin page (audited); token None or "" keeps the stored one.

    A new ``name`` renames in place: id, registration time and probes stay. Returns the name
    after saving and the likely URL mistakes.
    """
    if not changes.get("token"):
        changes.pop("token", None)
    with _session(url, "save the target") as session:
        view = update_target(session, name, actor="admin", **changes)
    log.info("event=target_updated name=%s fields=%s", view.name, ",".join(sorted(changes)))
    clear_caches()
    return view.name, list(view.warnings)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def target_change_rows(url: str, name: str) -> list[dict[str, Any]]:
    """A target's audited changes, newest first: when, who, which fields (never a value)."""
    with _session(url, "load the change history") as session:
        changes = target_changes(session, get_target(session, name).id)
    return [{"at": c.at, "who": c.actor, "fields": ", ".join(c.fields)} for c in changes]


def set_target_active(url: str, name: str, active: bool) -> None:
    with _session(url, "change the target") as session:
        set_active(session, name, active)
    log.info("event=target_active name=%s active=%s", name, active)
    clear_caches()


# --- team page --------------------------------------------------------------------------


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def team_view(url: str, name: str, window_h: int) -> dict[str, Any]:
    """One target's recent history: latency p50/p95 of ok answers, uptime and 200-rate per hour, recent
    failures, prober gaps, and the ROC curve of its latest answers.

    The ROC curve is computed here from the hidden labels; only the curve's points and the AUC
    leave this function, never a label or a sample id.
    """
    from storage.team_series import hourly_uptime, latency_series

    end = datetime.now(UTC)
    with _session(url, "load the team page") as session:
        view = get_target(session, name)
        start = max(end - timedelta(hours=window_h), view.registered_at)
        latency = latency_series(session, view.id, start, end, BUCKET)
        uptime = hourly_uptime(session, view.id, start, end)
        predict_hours = hourly_counts(session, view.id, "predict", start - BUCKET, end)
        failures = recent_failures(session, view.id, start, end, limit=RECENT_FAILURES_LIMIT)
        gaps = prober_gaps(session, start, end, min_gap=MIN_GAP_SHOWN)
        roc = _roc(session, view.id, end)
    return {
        "name": view.name,
        "start": start,
        "end": end,
        "latency": [_plain(p) for p in latency],
        "uptime": [_plain(p) for p in uptime],
        "rate200": [
            {"bucket_start": h.bucket_start, "rate200": h.n_200 / h.n_total, "n": h.n_total}
            for h in predict_hours
            if h.n_total
        ],
        "failures": [
            {"started_at": f.started_at, "kind": f.kind, "outcome": f.outcome,
             "status_code": f.status_code, "latency_ms": f.latency_ms}
            for f in failures
        ],
        "gaps": gaps,
        "roc": roc,
    }


# --- incidents and alert deliveries (issue 16) --------------------------------------------


def down_text(started_at: datetime, now: datetime) -> str:
    """``down 12 min``: how long an open incident has lasted so far."""
    return f"down {duration_text((now - started_at).total_seconds())}"


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def open_incident_rows(url: str) -> dict[str, dict[str, Any]]:
    """Per target name with an open incident: since when, which kinds, the reason phrase."""
    with _session(url, "load the open incidents") as session:
        opened = open_incidents(session)
    rows: dict[str, dict[str, Any]] = {}
    for inc in opened:  # oldest first: the first one per target gives the start and reason
        row = rows.setdefault(inc.target_name, {"started_at": inc.started_at, "kinds": [],
                                                "reason": inc.reason})
        row["kinds"].append(inc.kind)
    return rows


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def incident_rows(url: str, name: str) -> list[dict[str, Any]]:
    """A target's newest incidents, open or resolved, newest first; [] when none."""
    with _session(url, "load the incidents") as session:
        found = incidents_of(session, get_target(session, name).id)
        return [
            {"kind": i.kind, "started_at": i.started_at, "resolved_at": i.resolved_at,
             "lasted_s": None if i.resolved_at is None else (i.resolved_at - i.started_at).total_seconds(),
             "outcome": i.outcome, "reason": i.reason, "failed_probes": i.failed_probes}
            for i in found
        ]


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def alert_channel_rows(url: str) -> list[dict[str, Any]]:
    """Every alert channel, masked: the URL itself never reaches a page."""
    with _session(url, "load the alert channels") as session:
        return [{"id": c.id, "target": c.target_name or "(every target)", "url": c.masked,
                 "created_at": c.created_at} for c in all_channels(session)]


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def delivery_failure_rows(url: str) -> list[dict[str, Any]]:
    """The newest alert messages that did not get through after their retries."""
    with _session(url, "load the alert delivery failures") as session:
        return [{"finished_at": f.finished_at, "target": f.target_name or "—", "event": f.event,
                 "channel": f.channel_masked or "(removed)", "attempts": f.attempts, "error": f.error or ""}
                for f in delivery_failures(session)]


def _plain(point: Any) -> dict[str, Any]:
    """A storage record (dataclass, named tuple or mapping) as a plain dict."""
    if isinstance(point, dict):
        return dict(point)
    if hasattr(point, "_asdict"):
        return dict(point._asdict())
    if hasattr(point, "__dataclass_fields__"):
        return {k: getattr(point, k) for k in point.__dataclass_fields__}
    raise TypeError(f"unexpected record {type(point).__name__}")


def _roc(session: Session, target_id: int, at: datetime) -> dict[str, Any]:
    """ROC points and AUC of the latest probability per sample; ``reason`` when not computable."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from storage.evalset import eval_labels
    from storage.latest_answers import latest_probabilities

    labels = eval_labels(session)
    probabilities = latest_probabilities(session, target_id, at, sample_ids=labels.keys())
    common = sorted(set(probabilities) & set(labels))
    y_true = [labels[i] for i in common]
    y_score = [probabilities[i] for i in common]
    del labels, probabilities
    if len(set(y_true)) < 2:
        return {"fpr": [], "tpr": [], "auc": None, "n": len(common),
                "reason": "not enough answered samples of both classes yet"}
    fpr, tpr, _thresholds = roc_curve(y_true, y_score)
    return {"fpr": [float(x) for x in fpr], "tpr": [float(x) for x in tpr],
            "auc": float(roc_auc_score(y_true, y_score)), "n": len(common), "reason": None}


# --- evaluation set, grading config -----------------------------------------------------


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def eval_sample_count(url: str) -> int:
    with _session(url, "count the evaluation samples") as session:
        return eval_count(session)


def load_eval_csv(url: str, content: bytes) -> int:
    """Replace the evaluation set from an uploaded CSV; EvalSetError (names the line) loads nothing."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EvalSetError("the file is not UTF-8 text") from None
    rows = parse_eval_csv(text)
    with _session(url, "load the evaluation set") as session:
        count = replace_eval_set(session, rows)
    log.info("event=eval_set_loaded samples=%d", count)
    clear_caches()
    return count


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def grading_config(url: str) -> dict[str, Any]:
    with _session(url, "read the grading configuration") as session:
        cfg = get_grading_config(session)
    return {"defense_at": cfg.defense_at, "baseline_auc": cfg.baseline_auc, "rules_toml": cfg.rules_toml}


def parse_defense_at(value: str) -> datetime | None:
    """ISO 8601 with a zone, or empty for "use the default"; ValueError with a short message."""
    value = value.strip()
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from None
    if at.tzinfo is None:
        raise ValueError("the time needs a zone, e.g. 2026-12-01T10:00:00+00:00")
    return at.astimezone(UTC)


def save_grading(url: str, *, defense_at: datetime | None, rules_toml: str | None) -> None:
    """Store the defense time and rules; the rules are validated first (RulesError names the key)."""
    from scoring.rules import parse_rules

    rules_toml = rules_toml if rules_toml and rules_toml.strip() else None
    if rules_toml is not None:
        parse_rules(rules_toml)
    with _session(url, "save the grading configuration") as session:
        set_grading_config(session, defense_at=defense_at, rules_toml=rules_toml)
    log.info("event=grading_saved defense_at=%s rules=%s", defense_at, "custom" if rules_toml else "default")
    clear_caches()


# --- stress -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StressLaunch:
    """A stress run started from the dashboard, in its own process (Locust stays out of here)."""

    target: str
    pid: int
    started_at: datetime


_LAUNCHED: dict[int, subprocess.Popen[bytes]] = {}
_ENDED: dict[int, str] = {}  # pid -> finished or failed, once reaped
# ``clfwatch stress run`` exits 0 when every scenario passed and 1 when one failed: both finished.
STRESS_DONE_EXIT_CODES = (0, 1)


def start_stress_run(url: str, name: str, only: list[str] | None = None) -> StressLaunch:
    """Run ``clfwatch stress run NAME --format json`` in a subprocess; verdicts land in the database.

    ``only``: a subset of the ten scenarios (all when empty).
    """
    if name not in target_names(url):
        raise DashboardError("Unknown target.")
    unknown = [s for s in only or [] if s not in SCENARIO_ORDER]
    if unknown:
        raise DashboardError("Unknown scenario.")
    env = {k: v for k, v in os.environ.items() if k != "CLFWATCH_ADMIN_PASSWORD"}
    env["CLFWATCH_DATABASE_URL"] = url
    command = [sys.executable, "-m", "clfwatch.cli", "stress", "run", name, "--format", "json"]
    if only:
        command += ["--only", ",".join(only)]
    proc = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _LAUNCHED[proc.pid] = proc
    log.info("event=stress_started target=%s pid=%d only=%s", name, proc.pid, ",".join(only or []) or "all")
    clear_caches()
    return StressLaunch(target=name, pid=proc.pid, started_at=datetime.now(UTC))


def stress_launch_state(pid: int) -> str:
    """running, finished (every verdict stored, passed or not), failed, or unknown (not ours)."""
    if pid in _ENDED:
        return _ENDED[pid]
    proc = _LAUNCHED.get(pid)
    if proc is None:
        return "unknown"
    code = proc.poll()
    if code is None:
        return "running"
    _LAUNCHED.pop(pid, None)
    state = "finished" if code in STRESS_DONE_EXIT_CODES else "failed"
    if state == "failed":
        log.warning("event=stress_process_failed pid=%d exit=%d", pid, code)
    _ENDED[pid] = state
    clear_caches()
    return state


def stop_stress_launches() -> None:
    """Stop every stress process this dashboard process started (used at test teardown)."""
    for pid, proc in list(_LAUNCHED.items()):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        _LAUNCHED.pop(pid, None)


@st.cache_data(ttl=STRESS_TTL_S, show_spinner=False)
def stress_runs(url: str, target: str | None) -> list[dict[str, Any]]:
    """Newest runs first, each with its verdicts in the design's scenario order.

    Evidence is redacted: any bearer token, and any stored target token, becomes ``<token>``.
    """
    with _session(url, "load the stress runs") as session:
        names = {v.id: v.name for v in list_targets(session)}
        tokens = [t.token for t in probe_targets(session) if t.token and len(t.token) >= _MIN_TOKEN_CHARS]
        target_id = None
        if target is not None:
            target_id = get_target(session, target).id
        runs = list_stress_runs(session, target_id=target_id, limit=STRESS_RUNS_LIMIT)
        out = []
        for run in runs:
            by_name = {r.scenario: r for r in run.results}
            order = list(SCENARIO_ORDER) + sorted(set(by_name) - set(SCENARIO_ORDER))
            results: list[dict[str, Any]] = []
            for scenario in order:
                r = by_name.get(scenario)
                if r is None:
                    results.append({"scenario": scenario, "verdict": "pending" if run.status == "running"
                                    else "not run", "summary": "", "evidence": None, "curl": []})
                    continue
                evidence = _redact(r.evidence, tokens)
                summary = evidence.get("summary") if isinstance(evidence, dict) else None
                results.append({"scenario": scenario, "verdict": "pass" if r.passed else "FAIL",
                                "summary": summary if isinstance(summary, str) else "",
                                "evidence": evidence, "curl": curl_commands(evidence)})
            out.append({
                "id": run.id,
                "target": names.get(run.target_id) if run.target_id is not None else None,
                "url": run.target_url if run.target_id is None else None,
                "started_at": run.started_at, "finished_at": run.finished_at,
                "status": run.status, "score": run.score, "done": len(by_name),
                "results": results,
            })
    return out


def _redact(evidence: Any, tokens: list[str]) -> Any:
    """Evidence with every token and bearer credential replaced (``core.redaction``)."""
    return redact_evidence(evidence, tokens)


def curl_commands(evidence: Any) -> list[str]:
    """Every reproducing ``curl`` command held in the evidence, in order (keys named ``curl``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.lower().startswith("curl"):
                    if isinstance(value, str):
                        found.append(value)
                    elif isinstance(value, list):
                        found.extend(v for v in value if isinstance(v, str))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(evidence)
    return found


# --- drift ------------------------------------------------------------------------------


def recompute_drift(url: str, target: str | None) -> int:
    """Run the drift reports now (seconds per target); returns how many summaries were made."""
    try:
        from drift.reports import run_drift

        summaries = run_drift(url, target_name=target, settings=current_settings())
    except DashboardError:
        raise
    except Exception as exc:
        log.warning("event=drift_failed target=%s error=%s", target, type(exc).__name__)
        raise DashboardError("Could not compute drift right now.") from None
    clear_caches()
    return len(summaries)
