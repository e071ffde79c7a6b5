"""Drift inputs (the answers each target gave to each evaluation sample) and stored drift reports.

Model changes are found by re-reading a target's answers to the same sample ids; this module
hands them out as plain rows, streamed, and never reads a label or a text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import DriftReport, Probe, Target, utcnow

# Rows fetched per round trip while streaming answers: bounded memory on a week of probes.
ANSWER_BATCH_ROWS = 5_000


class PredictAnswer(NamedTuple):
    """One ok predict probe: the target, the sample asked, the probability answered, when (aware UTC)."""

    target_id: int
    sample_id: str
    probability: float
    started_at: datetime


@dataclass(frozen=True)
class DriftReportView:
    """A stored drift summary with its target's name (None when the report has no target)."""

    id: int
    target_id: int | None
    target_name: str | None
    created_at: datetime
    reference_from: datetime
    reference_to: datetime
    current_from: datetime
    current_to: datetime
    # Model-change reports: {"kind": "model_change", "model_change": {"at", "samples",
    # "share_changed", "mean_abs_delta", "auc_before", "auc_after"}, "columns": {...}} or with
    # "error" instead of "columns" when Evidently could not compare them.
    summary: dict[str, Any]
    html_path: str | None


def predict_answers(
    session: Session, *, target_id: int, start: datetime, end: datetime | None = None
) -> Iterator[PredictAnswer]:
    """Ok predict probes of one target with a sample and a probability in ``[start, end)``, oldest first.

    Streamed in batches of ANSWER_BATCH_ROWS (server-side cursor on Postgres), so a week of
    probes never sits in memory at once. Empty when none; ``end`` None means up to now.
    """
    query = (
        select(Probe.target_id, Probe.sample_id, Probe.probability, Probe.started_at)
        .where(
            Probe.target_id == target_id,
            Probe.kind == "predict",
            Probe.outcome == "ok",
            Probe.sample_id.is_not(None),
            Probe.probability.is_not(None),
            Probe.started_at >= start,
        )
        .order_by(Probe.started_at, Probe.id)
        .execution_options(yield_per=ANSWER_BATCH_ROWS)
    )
    if end is not None:
        query = query.where(Probe.started_at < end)
    for target, sample, probability, at in session.execute(query):
        if sample is not None and probability is not None:  # filtered above; keeps the types honest
            yield PredictAnswer(target, sample, float(probability), at)


def add_drift_report(
    session: Session,
    *,
    target_id: int | None,
    reference_from: datetime,
    reference_to: datetime,
    current_from: datetime,
    current_to: datetime,
    summary: dict[str, Any],
    html_path: str | None = None,
    created_at: datetime | None = None,
) -> int:
    """Store the summary of one drift run; returns its id."""
    row = DriftReport(
        target_id=target_id,
        created_at=created_at or utcnow(),
        reference_from=reference_from,
        reference_to=reference_to,
        current_from=current_from,
        current_to=current_to,
        summary=summary,
        html_path=html_path,
    )
    session.add(row)
    session.flush()
    return row.id


def list_drift_reports(
    session: Session,
    *,
    target_id: int | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[DriftReportView]:
    """Drift summaries, newest first, optionally of one target and since a time; empty when none."""
    query = (
        select(DriftReport, Target.name)
        .outerjoin(Target, Target.id == DriftReport.target_id)
        .order_by(DriftReport.created_at.desc(), DriftReport.id.desc())
    )
    if target_id is not None:
        query = query.where(DriftReport.target_id == target_id)
    if since is not None:
        query = query.where(DriftReport.created_at >= since)
    if limit is not None:
        query = query.limit(limit)
    return [_view(r, name) for r, name in session.execute(query).tuples()]


def get_drift_report(session: Session, report_id: int) -> DriftReportView | None:
    """One drift summary by id; None when absent."""
    row = session.get(DriftReport, report_id)
    if row is None:
        return None
    name = session.scalar(select(Target.name).where(Target.id == row.target_id)) if row.target_id else None
    return _view(row, name)


def _view(row: DriftReport, target_name: str | None) -> DriftReportView:
    return DriftReportView(
        id=row.id, target_id=row.target_id, target_name=target_name, created_at=row.created_at,
        reference_from=row.reference_from, reference_to=row.reference_to,
        current_from=row.current_from, current_to=row.current_to,
        summary=dict(row.summary or {}), html_path=row.html_path,
    )


def report_times_of(session: Session, target_id: int, *, kind: str) -> set[datetime]:
    """The ``summary[kind]["at"]`` times (aware UTC) of a target's stored reports; empty when none.

    How a rerun of ``drift run`` knows which model changes already have their report.
    """
    rows = session.scalars(select(DriftReport.summary).where(DriftReport.target_id == target_id))
    times = set()
    for summary in rows:
        at = (summary or {}).get(kind, {}).get("at") if isinstance(summary, dict) else None
        if at:
            times.add(datetime.fromisoformat(at))
    return times


def prune_drift_html(session: Session, target_id: int | None, *, keep: int) -> list[str]:
    """Forget the HTML file of all but the newest ``keep`` reports of a target; returns the paths to delete.

    ``target_id`` None: the reports of no target (the reference service's traffic reports).
    The summaries stay (the page lists them); only ``html_path`` is cleared. Empty when nothing is over.
    """
    of_target = DriftReport.target_id.is_(None) if target_id is None else DriftReport.target_id == target_id
    query = (
        select(DriftReport.id, DriftReport.html_path)
        .where(of_target, DriftReport.html_path.is_not(None))
        .order_by(DriftReport.created_at.desc(), DriftReport.id.desc())
        .offset(keep)
    )
    old = list(session.execute(query).tuples())
    if old:
        session.execute(
            update(DriftReport).where(DriftReport.id.in_([i for i, _ in old])).values(html_path=None)
        )
    return [path for _, path in old if path]
