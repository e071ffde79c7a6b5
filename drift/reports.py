"""Drift of team classifiers: model changes found in the probes, one Evidently report per change.

The prober asks every target the same evaluation samples again and again; drift.model_changes
finds the times from which a target answers them differently. For each change, Evidently
compares the probability distribution just before and just after on the same sample ids, and
the report is stored (drift_reports, an HTML file under settings.drift_dir, the newest
``drift_keep_reports`` per target kept) and pushed to the Evidently UI when one is set. A
rerun finds the same changes again and reuses their stored reports.

Labels are read only to give an AUC before and after a change, never per sample.
"""

from __future__ import annotations

import logging
import re
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ClfwatchError
from core.settings import Settings
from drift.model_changes import ModelChange, ModelChangeRules, detect_model_changes
from storage.drift import (
    DriftReportView,
    add_drift_report,
    list_drift_reports,
    predict_answers,
    prune_drift_html,
)
from storage.engine import session_scope
from storage.evalset import eval_labels
from storage.targets import TargetError, TargetView, get_target, list_targets

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

log = logging.getLogger(__name__)

DEFAULT_SINCE = timedelta(days=7)
PROBABILITY_COLUMN = "probability"
VALUE_DRIFT_TYPE = "evidently:metric_v2:ValueDrift"
REPORT_KIND = "model_change"  # summary["kind"] of a model-change report
TEXT_DRIFT_PANEL_TITLE = "Text drift score of the text column (higher = drift)"
TEXT_COLUMN = "text"
MODEL_CHANGE_PANEL_TITLE = "Probability drift across each model change (K-S p-value, lower = drift)"
KIND_SCORE = "score"  # higher = drift (text content drift, distances)
KIND_P_VALUE = "p_value"  # lower = drift (K-S, Z-test, chi-square)
COMPUTE_FAILED_MESSAGE = "the Evidently report could not be computed for this change"


class DriftError(ClfwatchError, ValueError):
    """A drift run was asked for something that does not exist (e.g. an unknown target)."""


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one column. Scores of different kinds do not share an axis."""

    column: str
    method: str  # e.g. "K-S p_value", "Percentile text content drift"
    kind: str  # KIND_SCORE (higher = drift) or KIND_P_VALUE (lower = drift)
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "kind": self.kind, "score": self.score,
            "threshold": self.threshold, "drifted": self.drifted,
        }


@dataclass(frozen=True)
class ReportRef:
    """Where a model change's Evidently report went."""

    id: int
    html_path: str | None  # None once pruned, or when Evidently failed
    pushed: bool | None  # to the Evidently UI; None when none is set or the report is older
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "html_path": self.html_path, "pushed": self.pushed, "error": self.error}


@dataclass(frozen=True)
class ChangeResult:
    """A model change as the CLI prints it: the detector's numbers, the AUCs, its report."""

    change: ModelChange
    auc_before: float | None
    auc_after: float | None
    report: ReportRef | None

    def to_dict(self) -> dict[str, Any]:
        c = self.change
        return {
            "at": iso_utc(c.at), "samples": c.samples, "share_changed": round(c.share_changed, 4),
            "mean_abs_delta": round(c.mean_abs_delta, 6),
            "auc_before": _round(self.auc_before), "auc_after": _round(self.auc_after),
        }

    def line(self, target_name: str) -> str:
        c = self.change
        text = (
            f"{target_name}: model changed at {iso_utc(c.at)}: {c.samples} samples re-asked, "
            f"{100 * c.share_changed:.0f} % answer differently, mean |Δp| {c.mean_abs_delta:.3f}, "
            f"AUC {_auc_text(self.auc_before)} → {_auc_text(self.auc_after)}"
        )
        if self.report is not None and self.report.html_path:
            text += f"; report {self.report.html_path}"
        if self.report is not None and self.report.pushed is False:
            text += "; not pushed to the Evidently UI (see the log)"
        return text


@dataclass(frozen=True)
class TargetDrift:
    """One target's drift run: its model changes since ``since``, oldest first."""

    target_name: str
    target_id: int
    since: datetime
    changes: tuple[ChangeResult, ...]

    @property
    def report(self) -> ReportRef | None:
        """The newest change's report; None without changes."""
        return self.changes[-1].report if self.changes else None

    def to_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "name": self.target_name,
            "model_changes": [c.to_dict() for c in self.changes],
            "report": None if report is None else report.to_dict(),
        }

    def lines(self) -> list[str]:
        if not self.changes:
            return [f"{self.target_name}: no model change since {iso_utc(self.since)}"]
        return [c.line(self.target_name) for c in self.changes]


def iso_utc(at: datetime) -> str:
    """ISO 8601 in UTC with a Z, e.g. 2026-12-03T06:20:01.250Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _auc_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def rules_from(settings: Settings) -> ModelChangeRules:
    return ModelChangeRules(
        min_samples=settings.model_change_min_samples,
        share=settings.model_change_share,
        tolerance=settings.model_change_tolerance,
    )


def _p_value_method(method: str) -> bool:
    return "p_value" in method.lower().replace("-", "_")


def extract_column_drift(snapshot_dict: dict[str, Any]) -> list[ColumnDrift]:
    """Per-column drift from ``snapshot.dict()``: ValueDrift metrics, verdicts from their tests.

    A column without a test verdict is judged by its method's direction. Empty when none.
    """
    failed: dict[str, bool] = {}
    for test in snapshot_dict.get("tests") or []:
        metric_id = (test.get("metric_config") or {}).get("metric_id")
        if test.get("id") == "drift" and metric_id:
            status = test.get("status", "")
            failed[metric_id] = str(getattr(status, "value", status)).upper() == "FAIL"  # enum or text
    columns = []
    for metric in snapshot_dict.get("metrics") or []:
        config = metric.get("config") or {}
        if config.get("type") != VALUE_DRIFT_TYPE:
            continue
        method = str(config.get("method") or "")
        threshold = float(config["threshold"])
        score = float(metric["value"])
        kind = KIND_P_VALUE if _p_value_method(method) else KIND_SCORE
        if metric.get("id") in failed:
            drifted = failed[metric["id"]]
        else:
            drifted = score < threshold if kind == KIND_P_VALUE else score >= threshold
        columns.append(ColumnDrift(str(config.get("column")), method, kind, score, threshold, drifted))
    return columns


def compute_change_report(change: ModelChange) -> tuple[Snapshot, list[ColumnDrift]]:
    """Evidently's ValueDrift of the probabilities just before against just after, same sample ids."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    ids = sorted(change.before)
    definition = DataDefinition(numerical_columns=[PROBABILITY_COLUMN])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy divide warnings on constant columns
        before = Dataset.from_pandas(
            pd.DataFrame({PROBABILITY_COLUMN: [change.before[s] for s in ids]}), data_definition=definition
        )
        after = Dataset.from_pandas(
            pd.DataFrame({PROBABILITY_COLUMN: [change.after[s] for s in ids]}), data_definition=definition
        )
        snapshot = Report([ValueDrift(column=PROBABILITY_COLUMN)], include_tests=True).run(
            current_data=after, reference_data=before
        )
    return snapshot, extract_column_drift(snapshot.dict())


class EvidentlyPusher:
    """Pushes snapshots to one Evidently UI project, found or created by name.

    Project names are not unique in Evidently: the oldest project with the name is used,
    and the panel is added only when no panel with its title exists. The default panel is
    the text-drift one (traffic reports); model-change runs pass the probability panel.
    """

    def __init__(
        self,
        url: str,
        project_name: str,
        *,
        panel_title: str = TEXT_DRIFT_PANEL_TITLE,
        panel_column: str = TEXT_COLUMN,
        panel_subtitle: str = "Evidently text content drift; threshold 0.95",
    ) -> None:
        self.url = url
        self.project_name = project_name
        self.panel_title = panel_title
        self.panel_column = panel_column
        self.panel_subtitle = panel_subtitle
        self._project: Any = None
        self._workspace: Any = None

    def _ensure_project(self) -> Any:
        if self._project is None:
            from evidently.ui.workspace import RemoteWorkspace

            workspace = RemoteWorkspace(self.url)
            same_name = [p for p in workspace.list_projects() if p.name == self.project_name]
            if same_name:
                self._project = min(same_name, key=lambda p: str(p.id))  # uuid7: oldest first
            else:
                self._project = workspace.create_project(self.project_name)
            self._workspace = workspace
            self._ensure_panel()
        return self._project

    def _ensure_panel(self) -> None:
        from evidently.sdk.models import DashboardPanelPlot, PanelMetric

        dashboard = self._project.dashboard
        if any(panel.title == self.panel_title for panel in dashboard.model().panels):
            return
        dashboard.add_panel(
            DashboardPanelPlot(
                title=self.panel_title,
                subtitle=self.panel_subtitle,
                size="full",
                values=[
                    PanelMetric(
                        legend=self.panel_column, metric="ValueDrift",
                        metric_labels={"column": self.panel_column},
                    )
                ],
                plot_params={"plot_type": "line"},
            )
        )

    def push(self, snapshot: Snapshot, *, run_name: str) -> bool:
        """Add one run; False (and a log line) when the UI cannot take it."""
        try:
            project = self._ensure_project()
            self._workspace.add_run(project.id, snapshot, include_data=False, name=run_name)
        except Exception as exc:  # noqa: BLE001 - an unreachable UI must not lose the stored summary
            log.warning("event=evidently_push_failed url=%s error=%s", self.url, type(exc).__name__)
            self._project = None
            return False
        return True


def model_change_pusher(settings: Settings) -> EvidentlyPusher | None:
    """The pusher for model-change reports; None when no CLFWATCH_EVIDENTLY_URL is set."""
    if not settings.evidently_url:
        return None
    return EvidentlyPusher(
        settings.evidently_url, settings.evidently_project,
        panel_title=MODEL_CHANGE_PANEL_TITLE, panel_column=PROBABILITY_COLUMN,
        panel_subtitle="Same sample ids just before and just after; threshold 0.05",
    )


def _safe_file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "target"


def _targets(database_url: str, target_name: str | None) -> list[TargetView]:
    with session_scope(database_url) as session:
        if target_name is None:
            return list_targets(session, active_only=True)
        try:
            return [get_target(session, target_name)]
        except TargetError as exc:
            raise DriftError(str(exc)) from None


def run_drift(
    database_url: str,
    *,
    target_name: str | None,
    settings: Settings,
    since: datetime | None = None,
    html_dir: Path | None = None,
    now: datetime | None = None,
) -> list[TargetDrift]:
    """Model changes since ``since`` (default a week ago) of ``target_name`` or every active target.

    DriftError when ``target_name`` is unknown. New changes get an Evidently report, stored
    and pushed; changes found before keep theirs. HTML goes to ``html_dir``, else settings.drift_dir.
    """
    now = now or datetime.now(UTC)
    since = since or now - DEFAULT_SINCE
    if since.tzinfo is None:
        raise DriftError("--since needs a time zone, e.g. 2026-12-01T10:00:00Z")
    targets = _targets(database_url, target_name)
    with session_scope(database_url) as session:
        labels = eval_labels(session)
    pusher = model_change_pusher(settings)
    rules = rules_from(settings)
    return [
        _run_one(database_url, target, since=since, rules=rules, labels=labels, settings=settings,
                 html_dir=html_dir or settings.drift_dir, pusher=pusher, now=now)
        for target in targets
    ]


def _run_one(
    database_url: str,
    target: TargetView,
    *,
    since: datetime,
    rules: ModelChangeRules,
    labels: dict[str, int],
    settings: Settings,
    html_dir: Path,
    pusher: EvidentlyPusher | None,
    now: datetime,
) -> TargetDrift:
    with session_scope(database_url) as session:
        changes = detect_model_changes(
            predict_answers(session, target_id=target.id, start=since, end=now), rules
        )
        stored = {
            str((r.summary.get(REPORT_KIND) or {}).get("at")): r
            for r in list_drift_reports(session, target_id=target.id)
            if r.summary.get("kind") == REPORT_KIND
        }
    results = []
    made = False
    for change in changes:
        auc_before, auc_after = change.aucs(labels)
        known = stored.get(iso_utc(change.at))
        if known is not None:
            ref = ReportRef(known.id, known.html_path, None, known.summary.get("error"))
        else:
            ref = _store_report(database_url, target, change, auc_before, auc_after,
                                html_dir=html_dir, pusher=pusher, now=now)
            made = True
        results.append(ChangeResult(change, auc_before, auc_after, ref))
    if made:
        _prune(database_url, target.id, keep=settings.drift_keep_reports)
    log.info("event=model_changes target=%s changes=%d", target.name, len(results))
    return TargetDrift(target.name, target.id, since, tuple(results))


def _store_report(
    database_url: str,
    target: TargetView,
    change: ModelChange,
    auc_before: float | None,
    auc_after: float | None,
    *,
    html_dir: Path,
    pusher: EvidentlyPusher | None,
    now: datetime,
) -> ReportRef:
    numbers = ChangeResult(change, auc_before, auc_after, None).to_dict()
    summary: dict[str, Any] = {"kind": REPORT_KIND, REPORT_KIND: numbers}
    html_path: str | None = None
    pushed: bool | None = None
    error: str | None = None
    try:
        snapshot, columns = compute_change_report(change)
    except Exception as exc:  # noqa: BLE001 - Evidently's internals must not end a run over all targets
        log.warning("event=drift_failed target=%s error=%s", target.name, type(exc).__name__)
        error = summary["error"] = COMPUTE_FAILED_MESSAGE
    else:
        summary["columns"] = {c.column: c.to_dict() for c in columns}
        html_dir.mkdir(parents=True, exist_ok=True)
        path = html_dir / (
            f"{_safe_file_part(target.name)}-{change.at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}.html"
        )
        snapshot.save_html(str(path))
        html_path = str(path.resolve())
        if pusher is not None:
            run_name = f"{target.name} model change {change.at:%Y-%m-%d %H:%M:%S}Z"
            pushed = pusher.push(snapshot, run_name=run_name)
    with session_scope(database_url) as session:
        report_id = add_drift_report(
            session, target_id=target.id,
            reference_from=change.before_from, reference_to=change.at,
            current_from=change.at, current_to=change.after_to,
            summary=summary, html_path=html_path, created_at=now,
        )
    log.info("event=model_change_report target=%s report_id=%d", target.name, report_id)
    return ReportRef(report_id, html_path, pushed, error)


def _prune(database_url: str, target_id: int, *, keep: int) -> None:
    with session_scope(database_url) as session:
        paths = prune_drift_html(session, target_id, keep=keep)
    for path in paths:
        Path(path).unlink(missing_ok=True)
    if paths:
        log.info("event=drift_reports_pruned target_id=%d files=%d", target_id, len(paths))


# --- reading stored reports for the page -------------------------------------------------


def latest_per_target(reports: list[DriftReportView]) -> list[DriftReportView]:
    """The newest report of each target, by target name; reports arrive newest first."""
    seen: dict[str, DriftReportView] = {}
    for report in reports:
        seen.setdefault(report.target_name or "(removed)", report)
    return [seen[name] for name in sorted(seen)]


def change_rows(reports: list[DriftReportView]) -> list[dict[str, Any]]:
    """The page's table: one row per stored model change, newest first; empty when none.

    Reports of the old window comparison (no ``kind``) are left out: they said nothing about models.
    """
    rows = []
    for report in reports:
        numbers = report.summary.get(REPORT_KIND)
        if report.summary.get("kind") != REPORT_KIND or not numbers:
            continue
        verdict = (report.summary.get("columns") or {}).get(PROBABILITY_COLUMN) or {}
        rows.append({
            "target": report.target_name or "(removed)",
            "changed at": datetime.fromisoformat(numbers["at"]).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "samples": int(numbers.get("samples", 0)),
            "answer differently": f"{100 * float(numbers.get('share_changed', 0)):.0f} %",
            "mean |Δp|": f"{float(numbers.get('mean_abs_delta', 0)):.3f}",
            "AUC before → after": (
                f"{_auc_text(numbers.get('auc_before'))} → {_auc_text(numbers.get('auc_after'))}"
            ),
            "probability drift (K-S p)": (
                str(report.summary.get("error")) if "error" in report.summary
                else f"{float(verdict.get('score', float('nan'))):.3g}"
                     f" ({'drift' if verdict.get('drifted') else 'ok'})"
            ),
        })
    return rows
