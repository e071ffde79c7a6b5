"""Stress runs and their per-scenario verdicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.models import StressResult, StressRun, utcnow

RUN_STATUSES = ("running", "finished", "interrupted", "failed")
SUITES = ("classifier", "llm")  # stress.suites' names; a run stores which one it ran
DEFAULT_SUITE = "classifier"


def create_stress_run(
    session: Session, *, target_url: str, target_id: int | None = None,
    started_at: datetime | None = None, suite: str = DEFAULT_SUITE, graded: bool = True,
) -> int:
    """Open a run of ``suite`` in state ``running``; returns its id. ``graded``: its score may be
    the target's stress points (the whole suite, the course's bars, the target as registered)."""
    if suite not in SUITES:
        raise ValueError(f"unknown stress suite {suite!r}")
    run = StressRun(
        target_id=target_id, target_url=target_url, started_at=started_at or utcnow(),
        status="running", score=0, suite=suite, graded=graded,
    )
    session.add(run)
    session.flush()
    return run.id


def add_stress_result(
    session: Session, *, run_id: int, scenario: str, passed: bool, evidence: dict[str, Any]
) -> None:
    """Store one scenario's verdict as soon as it is known, so an interrupted run keeps it."""
    session.add(StressResult(run_id=run_id, scenario=scenario, passed=passed, evidence=evidence))
    run = session.get(StressRun, run_id)
    if run is not None and passed:
        run.score += 1
    session.flush()


def finish_stress_run(session: Session, *, run_id: int, status: str) -> None:
    """Close a run as finished, interrupted or failed."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    run = session.get(StressRun, run_id)
    if run is not None:
        run.status = status
        run.finished_at = utcnow()
        session.flush()


def list_stress_runs(
    session: Session, *, target_id: int | None = None, limit: int = 50, suite: str | None = None
) -> list[StressRun]:
    """Newest runs first (of every suite, or of ``suite``), with their results loaded; empty list
    when none."""
    query = (
        select(StressRun)
        .options(selectinload(StressRun.results))
        .order_by(StressRun.started_at.desc(), StressRun.id.desc())
        .limit(limit)
    )
    if target_id is not None:
        query = query.where(StressRun.target_id == target_id)
    if suite is not None:
        query = query.where(StressRun.suite == suite)
    return list(session.scalars(query))


def latest_stress_points(session: Session) -> dict[int, int]:
    """Target id to the score of its newest finished graded run; targets never run are absent."""
    runs = session.execute(
        select(StressRun.target_id, StressRun.score)
        .where(StressRun.target_id.is_not(None), StressRun.status == "finished", StressRun.graded)
        .order_by(StressRun.started_at, StressRun.id)
    ).tuples()
    return {t: s for t, s in runs if t is not None}
