"""Drift inputs (what a target was sent and answered) and the summaries of drift runs.

A drift run compares texts and returned probabilities; it joins probe rows with the
evaluation texts and never reads a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import DriftReport, EvalSample, Probe, Target, utcnow


@dataclass(frozen=True)
class DriftInputRow:
    """One answered predict probe: when it was sent, the text sent, the probability returned."""

    started_at: datetime  # aware, UTC
    text: str
    probability: float


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
    # {"columns": {name: {method, kind, score, threshold, drifted}}, "reference_rows": n,
    #  "current_rows": n, "drifted_columns": n} or {"error": "not enough data: ...", ...}
    summary: dict[str, Any]
    html_path: str | None


def _answered_predicts(target_id: int) -> Any:
    return (
        select(Probe.started_at, EvalSample.text, Probe.probability)
        .join(EvalSample, EvalSample.id == Probe.sample_id)
        .where(
            Probe.target_id == target_id,
            Probe.kind == "predict",
            Probe.probability.is_not(None),
        )
    )


def drift_input_span(session: Session, target_id: int) -> tuple[datetime, datetime] | None:
    """Start times of the first and the last answered predict probe of a target; None when none."""
    query = select(func.min(Probe.started_at), func.max(Probe.started_at)).where(
        Probe.target_id == target_id, Probe.kind == "predict", Probe.probability.is_not(None)
    )
    first, last = session.execute(query).one()
    if first is None or last is None:
        return None
    # min/max bypass the column type on SQLite: read back naive strings or datetimes.
    return _aware(first), _aware(last)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def drift_input_rows(
    session: Session, target_id: int, start: datetime, end: datetime
) -> list[DriftInputRow]:
    """Answered predict probes in ``[start, end)`` joined with the text sent, oldest first.

    Probes whose sample is no longer in the evaluation set are left out. Empty list when none.
    """
    query = (
        _answered_predicts(target_id)
        .where(Probe.started_at >= start, Probe.started_at < end)
        .order_by(Probe.started_at)
    )
    return [DriftInputRow(at, text, float(p)) for at, text, p in session.execute(query).tuples()]


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
