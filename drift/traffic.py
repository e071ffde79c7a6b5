"""Text drift where there is real traffic: the reference service's texts against its training data.

Two reports share one recipe (``text_drift_report``): the text column plus two descriptors
(its length, and whether it names "bot"/"бот" as a whole word) through ``DataDriftPreset``.

- ``service train`` logs the training split against the validation split (the same seeded
  split train_model scores on) to the Evidently UI: a baseline of how different two samples of
  one distribution look.
- ``drift run --traffic`` compares the ring of the last N texts the reference service was asked
  to classify (storage.traffic) with ``train.csv``, stores the summary like the model-change
  reports (``drift_reports``, ``summary.kind = "traffic"``, no target) and pushes it.

Both land in the project CLFWATCH_EVIDENTLY_PROJECT, whose full-width Line panel plots the
drift score of the ``text`` column run after run (drift.reports.EvidentlyPusher adds it once).

Evidently's text drift picks its method by sample size: with 1,000 reference rows or more it
fits one classifier (about a second here); below that it bootstraps (tens of seconds). Both
reports have a reference of several thousand rows.
"""

from __future__ import annotations

import csv
import logging
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import Settings
from drift.reports import (
    TEXT_COLUMN,
    ColumnDrift,
    DriftError,
    EvidentlyPusher,
    ReportRef,
    extract_column_drift,
    iso_utc,
)
from storage.drift import DriftReportView, add_drift_report, prune_drift_html
from storage.engine import session_scope
from storage.traffic import traffic_sample

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

log = logging.getLogger(__name__)

TRAFFIC_KIND = "traffic"  # summary["kind"] of a traffic report
# Evidently's RegExp descriptor uses re.fullmatch: the pattern must span the whole text.
BOT_WORD_PATTERN = r"(?is).*\b(?:bot|бот)\b.*"
LENGTH_DESCRIPTOR = "text_length"
BOT_DESCRIPTOR = "mentions_bot"
# Below this many texts a comparison says more about the sample than about the traffic.
MIN_TRAFFIC_TEXTS = 100
DRIFTED_COUNT_TYPE = "evidently:metric_v2:DriftedColumnsCount"
# How Evidently's text drift (scikit-learn's vectorizers inside) says the texts hold too few words.
TOO_LITTLE_TEXT_ERRORS = ("no terms remain", "empty vocabulary")


class NotEnoughDataError(DriftError):
    """Too few texts to compare (or too repetitive for Evidently's text drift)."""


@dataclass(frozen=True)
class TextDriftSummary:
    """What a text-drift report says, in numbers: the text column's verdict and every column's."""

    reference_texts: int
    current_texts: int
    columns: tuple[ColumnDrift, ...]
    drifted_columns: int
    drifted_share: float

    @property
    def text(self) -> ColumnDrift | None:
        return next((c for c in self.columns if c.column == TEXT_COLUMN), None)

    def to_dict(self) -> dict[str, Any]:
        text = self.text
        return {
            "reference_texts": self.reference_texts,
            "current_texts": self.current_texts,
            "text_drift_score": None if text is None else round(text.score, 4),
            "text_drift_threshold": None if text is None else text.threshold,
            "text_drifted": None if text is None else text.drifted,
            "drifted_columns": self.drifted_columns,
            "drifted_columns_share": round(self.drifted_share, 4),
            "columns": {c.column: c.to_dict() for c in self.columns},
        }

    def line(self) -> str:
        text = self.text
        score = "n/a" if text is None else (
            f"{text.score:.3f} ({'drift' if text.drifted else 'no drift'}, threshold {text.threshold:g})"
        )
        return (
            f"text drift score {score}; drifted columns {self.drifted_columns} of {len(self.columns)} "
            f"({100 * self.drifted_share:.0f} %); {self.current_texts} texts against {self.reference_texts}"
        )


@dataclass(frozen=True)
class TrafficDrift:
    """One ``drift run --traffic``: the summary and where its report went."""

    summary: TextDriftSummary
    report: ReportRef

    def to_dict(self) -> dict[str, Any]:
        return {"traffic": {**self.summary.to_dict(), "report": self.report.to_dict()}}

    def lines(self) -> list[str]:
        lines = [f"traffic vs train.csv: {self.summary.line()}"]
        if self.report.html_path:
            lines.append(f"report {self.report.html_path}")
        if self.report.pushed is False:
            lines.append("not pushed to the Evidently UI (see the log)")
        return lines


def _dataset(texts: list[str]) -> Any:
    import pandas as pd
    from evidently import DataDefinition, Dataset
    from evidently.descriptors import RegExp, TextLength

    return Dataset.from_pandas(
        pd.DataFrame({TEXT_COLUMN: texts}),
        data_definition=DataDefinition(text_columns=[TEXT_COLUMN]),
        descriptors=[
            TextLength(TEXT_COLUMN, alias=LENGTH_DESCRIPTOR),
            RegExp(TEXT_COLUMN, reg_exp=BOT_WORD_PATTERN, alias=BOT_DESCRIPTOR),
        ],
    )


def text_drift_report(reference: list[str], current: list[str]) -> tuple[Snapshot, TextDriftSummary]:
    """DataDriftPreset over the text and its descriptors, ``current`` against ``reference``.

    NotEnoughDataError when either side is empty or Evidently finds no terms to compare.
    """
    from evidently import Report
    from evidently.presets import DataDriftPreset

    if not reference or not current:
        raise NotEnoughDataError(f"not enough data: {len(current)} texts against {len(reference)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn convergence and numpy warnings inside Evidently
            snapshot = Report([DataDriftPreset()], include_tests=True).run(
                current_data=_dataset(current), reference_data=_dataset(reference)
            )
    except ValueError as exc:
        if any(sign in str(exc) for sign in TOO_LITTLE_TEXT_ERRORS):
            raise NotEnoughDataError(
                f"not enough data: {len(current)} texts are too short or too alike to compare"
            ) from None
        raise
    document = snapshot.dict()
    count, share = 0, 0.0
    for metric in document.get("metrics") or []:
        if (metric.get("config") or {}).get("type") == DRIFTED_COUNT_TYPE:
            count, share = int(metric["value"]["count"]), float(metric["value"]["share"])
    summary = TextDriftSummary(len(reference), len(current), tuple(extract_column_drift(document)),
                               count, share)
    return snapshot, summary


def read_texts(path: Path) -> list[str]:
    """The ``text`` column of a CSV file such as service/data/train.csv."""
    with path.open(newline="", encoding="utf-8") as f:
        return [row[TEXT_COLUMN] for row in csv.DictReader(f)]


def text_pusher(settings: Settings) -> EvidentlyPusher | None:
    """The pusher of text reports (its panel: the text column's drift score); None without a UI."""
    if not settings.evidently_url:
        return None
    return EvidentlyPusher(settings.evidently_url, settings.evidently_project)


# --- service train -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingReport:
    """The training-vs-validation report of one ``service train``."""

    summary: TextDriftSummary
    pushed: bool


def log_training_report(
    fit_texts: list[str], holdout_texts: list[str], *, pusher: EvidentlyPusher, run_name: str
) -> TrainingReport:
    """Compare the validation split with the training split and push the report as one new run."""
    snapshot, summary = text_drift_report(fit_texts, holdout_texts)
    pushed = pusher.push(snapshot, run_name=run_name)
    log.info("event=training_report pushed=%s text_score=%s", pushed,
             None if summary.text is None else round(summary.text.score, 4))
    return TrainingReport(summary, pushed)


# --- drift run --traffic -------------------------------------------------------------------


def run_traffic_drift(
    settings: Settings,
    *,
    train_csv: Path,
    html_dir: Path | None = None,
    now: datetime | None = None,
    min_texts: int = MIN_TRAFFIC_TEXTS,
) -> TrafficDrift:
    """The ring's texts against ``train_csv``: stored, saved as HTML, pushed when a UI is set.

    NotEnoughDataError (its message one line for the user) when the ring holds under ``min_texts``.
    """
    now = now or datetime.now(UTC)
    with session_scope(settings.database_url) as session:
        sample = traffic_sample(session)
    if len(sample.texts) < min_texts or sample.first_at is None or sample.last_at is None:
        raise NotEnoughDataError(
            f"not enough data: {len(sample.texts)} texts, need {min_texts} (the reference service "
            "keeps its last CLFWATCH_SERVICE_TRAFFIC_SAMPLE texts in this database)"
        )
    reference = read_texts(train_csv)
    snapshot, summary = text_drift_report(reference, sample.texts)

    html_dir = html_dir or settings.drift_dir
    html_dir.mkdir(parents=True, exist_ok=True)
    path = html_dir / f"traffic-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}.html"
    snapshot.save_html(str(path))
    pusher = text_pusher(settings)
    pushed = None if pusher is None else pusher.push(
        snapshot, run_name=f"traffic ({len(sample.texts)} texts) vs train.csv, {iso_utc(now)}"
    )
    reference_at = datetime.fromtimestamp(train_csv.stat().st_mtime, UTC)  # train.csv has no times
    with session_scope(settings.database_url) as session:
        report_id = add_drift_report(
            session, target_id=None,
            reference_from=reference_at, reference_to=reference_at,
            current_from=sample.first_at, current_to=sample.last_at,
            summary={"kind": TRAFFIC_KIND, TRAFFIC_KIND: summary.to_dict(),
                     "columns": {c.column: c.to_dict() for c in summary.columns}},
            html_path=str(path.resolve()), created_at=now,
        )
        old_files = prune_drift_html(session, None, keep=settings.drift_keep_reports)
    for old in old_files:
        Path(old).unlink(missing_ok=True)
    log.info("event=traffic_report report_id=%d texts=%d pushed=%s", report_id, len(sample.texts), pushed)
    return TrafficDrift(summary, ReportRef(report_id, str(path.resolve()), pushed))


# --- the dashboard's table -----------------------------------------------------------------


def traffic_rows(reports: list[DriftReportView]) -> list[dict[str, Any]]:
    """The drift page's table of traffic reports: one row per stored run, in the order given.

    Reports of any other kind are left out; empty when there is none.
    """
    rows = []
    for report in reports:
        numbers = report.summary.get(TRAFFIC_KIND)
        if report.summary.get("kind") != TRAFFIC_KIND or not isinstance(numbers, dict):
            continue
        score, threshold = numbers.get("text_drift_score"), numbers.get("text_drift_threshold")
        verdict = "drift" if numbers.get("text_drifted") else "no drift"
        columns = len(numbers.get("columns") or {})
        rows.append({
            "run at": report.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "traffic texts": int(numbers.get("current_texts") or 0),
            "training texts": int(numbers.get("reference_texts") or 0),
            "text drift score": (
                "n/a" if score is None
                else f"{float(score):.3f} ({verdict}, threshold {float(threshold or 0):g})"
            ),
            "drifted columns": (
                f"{int(numbers.get('drifted_columns') or 0)} of {columns} "
                f"({100 * float(numbers.get('drifted_columns_share') or 0):.0f} %)"
            ),
        })
    return rows
