"""Evidently drift of what each target was sent and answered: a reference window against now.

Texts come from the evaluation set through storage; labels are never read. A window too
small or too repetitive for Evidently's text model gives an ``{"error": "not enough data: ..."}``
summary instead of an exception, so one quiet target never stops a run over all of them.
"""

from __future__ import annotations

import logging
import re
import uuid
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.settings import Settings
from storage.drift import (
    DriftInputRow,
    DriftReportView,
    add_drift_report,
    drift_input_rows,
    drift_input_span,
)
from storage.engine import session_scope
from storage.targets import TargetError, get_target, list_targets

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

log = logging.getLogger(__name__)

DEFAULT_REFERENCE_HOURS = 24.0
DEFAULT_CURRENT_HOURS = 24.0
# Text drift trains a classifier per report: more rows than this per window only adds seconds.
DEFAULT_MAX_ROWS_PER_WINDOW = 1000
MIN_ROWS_PER_WINDOW = 20
SAMPLE_SEED = 0
TEXT_COLUMN = "text"
PROBABILITY_COLUMN = "probability"
LENGTH_COLUMN = "text_length"
BOT_WORD_COLUMN = "mentions_bot"
# Whole words only: "robot" and "ботаник" are not bots. Contains/IncludesWords match substrings.
BOT_WORD_PATTERN = r"(?i)\b(bot|бот)\b"
VALUE_DRIFT_TYPE = "evidently:metric_v2:ValueDrift"
TEXT_DRIFT_PANEL_TITLE = "Text drift score of the text column (higher = drift)"
HISTORY_COLUMNS = (
    "report_id", "target", "created_at", "column", "kind", "method", "score", "threshold", "drifted",
)
KIND_SCORE = "score"  # higher = drift (text content drift, distances)
KIND_P_VALUE = "p_value"  # lower = drift (K-S, Z-test, chi-square)
# sklearn's words when a window's texts are too few or too alike to build a vocabulary.
_NOT_ENOUGH_TEXT = ("After pruning, no terms remain", "empty vocabulary")
NOT_ENOUGH_TEXT_MESSAGE = "not enough data: the texts are too few or too alike to compare"
COMPUTE_FAILED_MESSAGE = "drift could not be computed for these windows"


class DriftError(ValueError):
    """A drift run was asked for something that does not exist (e.g. an unknown target)."""


class NotEnoughData(Exception):
    """A window holds too little (or too uniform) data for a meaningful comparison."""


@dataclass(frozen=True)
class DriftWindows:
    """The two compared spans, each ``[from, to)``, aware UTC."""

    reference_from: datetime
    reference_to: datetime
    current_from: datetime
    current_to: datetime


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
class DriftSummary:
    """The outcome of one target's drift run, as stored and as the CLI prints it."""

    target_name: str
    target_id: int
    report_id: int
    windows: DriftWindows
    reference_rows: int
    current_rows: int
    columns: tuple[ColumnDrift, ...]
    error: str | None  # "not enough data: ..." etc.; None when the report was computed
    html_path: str | None
    pushed: bool | None  # to the Evidently UI; None when no CLFWATCH_EVIDENTLY_URL is set

    def summary_dict(self) -> dict[str, Any]:
        base: dict[str, Any] = {"reference_rows": self.reference_rows, "current_rows": self.current_rows}
        if self.error is not None:
            return {"error": self.error, **base}
        return {
            "columns": {c.column: c.to_dict() for c in self.columns},
            "drifted_columns": sum(c.drifted for c in self.columns),
            **base,
        }

    def line(self) -> str:
        """One line for a person: the verdict per column and where the report went."""
        if self.error is not None:
            return f"{self.target_name}: {self.error}"
        parts = []
        for c in self.columns:
            verdict = "drift" if c.drifted else "no drift"
            symbol = "score" if c.kind == KIND_SCORE else "p"
            parts.append(f"{c.column} {symbol}={c.score:.3g} ({verdict})")
        drifted = sum(c.drifted for c in self.columns)
        text = f"{self.target_name}: {drifted} of {len(self.columns)} columns drifted; " + ", ".join(parts)
        if self.html_path:
            text += f"; report {self.html_path}"
        if self.pushed is False:
            text += "; not pushed to the Evidently UI (see the log)"
        return text


def choose_windows(
    first: datetime, last: datetime, *, reference: timedelta, current: timedelta
) -> DriftWindows:
    """Reference = the first ``reference`` of the history, current = the last ``current``.

    When the history is too short for both without overlap, it is split in two halves, so
    the same probe never sits in both windows.
    """
    end = last + timedelta(microseconds=1)  # windows are half-open; keep the newest probe
    ref_to = first + reference
    cur_from = end - current
    if ref_to > cur_from:
        middle = first + (end - first) / 2
        ref_to = cur_from = middle
    return DriftWindows(first, ref_to, cur_from, end)


def _frame(rows: list[DriftInputRow], max_rows: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {TEXT_COLUMN: [r.text for r in rows], PROBABILITY_COLUMN: [r.probability for r in rows]}
    )
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=SAMPLE_SEED).reset_index(drop=True)
    return frame


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


def compute_drift(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[Snapshot, list[ColumnDrift]]:
    """Run Evidently's DataDriftPreset on text descriptors and probabilities.

    Raises NotEnoughData when a window is below MIN_ROWS_PER_WINDOW or too repetitive.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.descriptors import RegExp, TextLength
    from evidently.presets import DataDriftPreset

    for name, frame in (("reference", reference), ("current", current)):
        if len(frame) < MIN_ROWS_PER_WINDOW:
            raise NotEnoughData(
                f"not enough data: the {name} window has {len(frame)} answered predictions, "
                f"at least {MIN_ROWS_PER_WINDOW} are needed"
            )
    definition = DataDefinition(text_columns=[TEXT_COLUMN], numerical_columns=[PROBABILITY_COLUMN])

    def descriptors() -> list[Any]:
        return [
            TextLength(TEXT_COLUMN, alias=LENGTH_COLUMN),
            RegExp(TEXT_COLUMN, BOT_WORD_PATTERN, alias=BOT_WORD_COLUMN),
        ]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy divide warnings on constant columns
        ref = Dataset.from_pandas(reference, data_definition=definition, descriptors=descriptors())
        cur = Dataset.from_pandas(current, data_definition=definition, descriptors=descriptors())
        try:
            snapshot = Report([DataDriftPreset()], include_tests=True).run(
                current_data=cur, reference_data=ref
            )
        except ValueError as exc:
            if any(marker in str(exc) for marker in _NOT_ENOUGH_TEXT):
                raise NotEnoughData(NOT_ENOUGH_TEXT_MESSAGE) from None
            raise
    return snapshot, extract_column_drift(snapshot.dict())


class EvidentlyPusher:
    """Pushes snapshots to one Evidently UI project, found or created by name.

    Project names are not unique in Evidently: the oldest project with the name is used,
    and the text-drift panel is added only when no panel with its title exists.
    """

    def __init__(self, url: str, project_name: str) -> None:
        self.url = url
        self.project_name = project_name
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
        if any(panel.title == TEXT_DRIFT_PANEL_TITLE for panel in dashboard.model().panels):
            return
        dashboard.add_panel(
            DashboardPanelPlot(
                title=TEXT_DRIFT_PANEL_TITLE,
                subtitle="Evidently text content drift; threshold 0.95",
                size="full",
                values=[
                    PanelMetric(
                        legend=TEXT_COLUMN, metric="ValueDrift", metric_labels={"column": TEXT_COLUMN}
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


def _safe_file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "target"


def run_drift(
    database_url: str,
    *,
    target_name: str | None,
    settings: Settings,
    reference_hours: float = DEFAULT_REFERENCE_HOURS,
    current_hours: float = DEFAULT_CURRENT_HOURS,
    html_dir: Path | None = None,
    max_rows_per_window: int = DEFAULT_MAX_ROWS_PER_WINDOW,
    now: datetime | None = None,
) -> list[DriftSummary]:
    """Compute, store (and push) one drift report per target: ``target_name`` or every active one.

    DriftError when ``target_name`` is unknown. Each summary is stored whether or not
    the comparison could be made. HTML reports go to ``html_dir``, else ``settings.drift_dir``.
    """
    if reference_hours <= 0 or current_hours <= 0:
        raise DriftError("window lengths must be positive")
    with session_scope(database_url) as session:
        if target_name is not None:
            try:
                targets = [get_target(session, target_name)]
            except TargetError as exc:
                raise DriftError(str(exc)) from None
        else:
            targets = list_targets(session, active_only=True)
    pusher = None
    if settings.evidently_url:
        pusher = EvidentlyPusher(settings.evidently_url, settings.evidently_project)
    return [
        _run_one(
            database_url, target.id, target.name,
            reference=timedelta(hours=reference_hours), current=timedelta(hours=current_hours),
            html_dir=html_dir or settings.drift_dir, max_rows=max_rows_per_window, pusher=pusher,
            now=now or datetime.now(UTC),
        )
        for target in targets
    ]


def _run_one(
    database_url: str,
    target_id: int,
    target_name: str,
    *,
    reference: timedelta,
    current: timedelta,
    html_dir: Path,
    max_rows: int,
    pusher: EvidentlyPusher | None,
    now: datetime,
) -> DriftSummary:
    with session_scope(database_url) as session:
        span = drift_input_span(session, target_id)
        if span is None:
            windows = DriftWindows(now, now, now, now)
            ref_rows: list[DriftInputRow] = []
            cur_rows: list[DriftInputRow] = []
        else:
            windows = choose_windows(*span, reference=reference, current=current)
            ref_rows = drift_input_rows(session, target_id, windows.reference_from, windows.reference_to)
            cur_rows = drift_input_rows(session, target_id, windows.current_from, windows.current_to)
    ref_frame, cur_frame = _frame(ref_rows, max_rows), _frame(cur_rows, max_rows)
    columns: list[ColumnDrift] = []
    error: str | None = None
    html_path: str | None = None
    pushed: bool | None = None
    try:
        snapshot, columns = compute_drift(ref_frame, cur_frame)
    except NotEnoughData as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - Evidently's internals must not end a run over all targets
        log.warning("event=drift_failed target=%s error=%s", target_name, type(exc).__name__)
        error = COMPUTE_FAILED_MESSAGE
    else:
        html_dir.mkdir(parents=True, exist_ok=True)
        path = html_dir / f"{_safe_file_part(target_name)}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}.html"
        snapshot.save_html(str(path))
        html_path = str(path.resolve())
        if pusher is not None:
            pushed = pusher.push(snapshot, run_name=f"{target_name} {now:%Y-%m-%d %H:%M}Z")
    result = DriftSummary(
        target_name=target_name, target_id=target_id, report_id=0, windows=windows,
        reference_rows=len(ref_frame), current_rows=len(cur_frame), columns=tuple(columns),
        error=error, html_path=html_path, pushed=pushed,
    )
    with session_scope(database_url) as session:
        report_id = add_drift_report(
            session, target_id=target_id,
            reference_from=windows.reference_from, reference_to=windows.reference_to,
            current_from=windows.current_from, current_to=windows.current_to,
            summary=result.summary_dict(), html_path=html_path, created_at=now,
        )
    log.info("event=drift_report target=%s report_id=%d error=%s", target_name, report_id, error is not None)
    return replace(result, report_id=report_id)


# --- reading stored reports for the page -------------------------------------------------


def drift_history_frame(reports: list[DriftReportView]) -> pd.DataFrame:
    """One row per (report, column): target, created_at, column, kind, method, score, threshold, drifted.

    Reports that ended in an error have no columns and give no rows; empty frame when none.
    """
    records = []
    for report in reports:
        for column, value in (report.summary.get("columns") or {}).items():
            records.append(
                {
                    "report_id": report.id,
                    "target": report.target_name or "(removed)",
                    "created_at": report.created_at,
                    "column": column,
                    "kind": value.get("kind", KIND_SCORE),
                    "method": value.get("method", ""),
                    "score": float(value.get("score", float("nan"))),
                    "threshold": float(value.get("threshold", float("nan"))),
                    "drifted": bool(value.get("drifted", False)),
                }
            )
    return pd.DataFrame.from_records(records, columns=list(HISTORY_COLUMNS))


def latest_per_target(reports: list[DriftReportView]) -> list[DriftReportView]:
    """The newest report of each target, by target name; reports arrive newest first."""
    seen: dict[str, DriftReportView] = {}
    for report in reports:
        seen.setdefault(report.target_name or "(removed)", report)
    return [seen[name] for name in sorted(seen)]


def latest_table(reports: list[DriftReportView]) -> pd.DataFrame:
    """The page's overview: one row per target, each column's verdict in words."""
    rows = []
    for report in latest_per_target(reports):
        summary = report.summary
        cols = summary.get("columns") or {}
        row: dict[str, Any] = {
            "target": report.target_name or "(removed)",
            "computed at": report.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "reference": _span_text(report.reference_from, report.reference_to),
            "current": _span_text(report.current_from, report.current_to),
            "rows (ref / cur)": f"{summary.get('reference_rows', 0)} / {summary.get('current_rows', 0)}",
        }
        if "error" in summary:
            row["result"] = str(summary["error"])
        else:
            drifted = [name for name, value in cols.items() if value.get("drifted")]
            row["result"] = f"drift in {', '.join(drifted)}" if drifted else "no drift"
        for name in (TEXT_COLUMN, PROBABILITY_COLUMN, LENGTH_COLUMN, BOT_WORD_COLUMN):
            value = cols.get(name)
            row[_column_label(name)] = "" if value is None else _verdict_text(value)
        rows.append(row)
    return pd.DataFrame(rows)


def _column_label(name: str) -> str:
    return {
        TEXT_COLUMN: "text (drift score)",
        PROBABILITY_COLUMN: "probability (p-value)",
        LENGTH_COLUMN: "text length (p-value)",
        BOT_WORD_COLUMN: "says bot/бот (p-value)",
    }.get(name, name)


def _verdict_text(value: dict[str, Any]) -> str:
    mark = "drift" if value.get("drifted") else "ok"
    return f"{float(value.get('score', float('nan'))):.3g} ({mark})"


def _span_text(start: datetime, end: datetime) -> str:
    if start == end:
        return "none"
    return f"{start:%m-%d %H:%M} → {end:%m-%d %H:%M}"
