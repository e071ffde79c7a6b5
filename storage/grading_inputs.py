"""Everything a scoreboard is computed from, read in one step into plain frozen data.

Scoring is fetch, then grade: ``fetch_grading_inputs`` runs every query a scoreboard needs (the
targets, the hidden labels, the prober's coverage, the window counts and latency, each sample's
latest valid answer, the newest stress scores) and hands back ``GradingInputs``; the pure
functions of ``scoring`` grade it with no session in reach. The number of queries does not grow
with the number of targets (mean latency; a p50/p95 statistic still reads a query or two per
target, see ``storage.latency_percentiles``).

Each target is measured by its kind: a classifier's answers are its ``predict`` probes, an
openai-chat target's its ``chat`` probes, timed to the first token (``storage.windows``). Its
``auth`` probes are read by no grade, and no labels or answers are read for it.

Hidden labels travel in ``GradingInputs.labels`` and the answers in
``TargetMeasurements.probabilities``: both are left out of ``repr`` so that a log line or a
traceback never prints them; scoring turns them into an AUC and a count, nothing per sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from core.contract import ProbeKind, TargetKind
from storage.evalset import eval_labels
from storage.latest_answers import latest_probabilities_many
from storage.probes import prober_coverage
from storage.stress import latest_stress_points
from storage.targets import list_targets
from storage.windows import WindowAggregates, last_probe_times, window_aggregates_many


@dataclass(frozen=True)
class TargetMeasurements:
    """One target's measurements over its grading window ``[window_start, window_end)``."""

    target_id: int
    name: str
    registered_at: datetime
    window_start: datetime
    window_end: datetime
    aggregates: WindowAggregates | None  # None when the window is empty (registered after ``at``)
    last_probe_at: datetime | None  # newest probe of any kind before the grading time
    stress_points: int | None  # newest finished stress run's score out of 10; None: never run
    # Sample id to the latest valid answer's probability, evaluation samples only; empty without
    # an evaluation set or an empty window. Kept out of repr with the labels it is graded against.
    probabilities: Mapping[str, float] = field(default_factory=dict, repr=False)
    kind: str = TargetKind.CLASSIFIER.value  # core.contract.TargetKind: which board it is graded on

    @property
    def window_is_empty(self) -> bool:
        """True when the target was registered at or after the grading time."""
        return self.window_start >= self.window_end


@dataclass(frozen=True)
class GradingInputs:
    """Every target's measurements at ``at``, sorted by name, with the evaluation set's labels."""

    at: datetime
    targets: tuple[TargetMeasurements, ...]
    labels: Mapping[str, int] = field(default_factory=dict, repr=False)  # hidden: never printed


def fetch_grading_inputs(
    session: Session,
    *,
    at: datetime,
    window_start: Callable[[datetime], datetime],
    latency_statistic: str,
    ttft_statistic: str = "p95",
) -> GradingInputs:
    """What grading at ``at`` needs of every registered target; no targets gives an empty tuple.

    ``window_start`` maps a registration time to the start of that target's window (the rule is
    scoring's); ``latency_statistic`` (classifiers' predict latency) and ``ttft_statistic``
    (openai-chat targets' time to first token) are ``mean``, ``p50`` or ``p95``. ``at`` must be
    aware.
    """
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    at = at.astimezone(UTC)
    targets = list_targets(session)
    labels = eval_labels(session)
    if not targets:
        return GradingInputs(at=at, targets=(), labels=labels)
    starts = {t.id: window_start(t.registered_at) for t in targets}
    chat = {t.id for t in targets if t.kind == TargetKind.OPENAI_CHAT}
    live = [t.id for t in targets if starts[t.id] < at and t.id not in chat]
    live_chat = [t.id for t in targets if starts[t.id] < at and t.id in chat]
    earliest = min(starts.values())
    coverage = prober_coverage(session, earliest, at) if earliest < at else []
    last_probe = last_probe_times(session, at)
    stress = latest_stress_points(session)
    aggregates = window_aggregates_many(
        session, {t: (starts[t], at) for t in live}, statistic=latency_statistic, coverage=coverage,
    )
    if live_chat:
        aggregates |= window_aggregates_many(
            session, {t: (starts[t], at) for t in live_chat}, statistic=ttft_statistic,
            coverage=coverage, answer_kind=ProbeKind.CHAT.value,
        )
    probabilities = latest_probabilities_many(session, live, at, sample_ids=labels.keys()) if labels else {}
    return GradingInputs(
        at=at,
        labels=labels,
        targets=tuple(
            TargetMeasurements(
                target_id=t.id, name=t.name, registered_at=t.registered_at, window_start=starts[t.id],
                window_end=at, aggregates=aggregates.get(t.id), last_probe_at=last_probe.get(t.id),
                stress_points=stress.get(t.id), probabilities=probabilities.get(t.id, {}),
                kind=TargetKind.OPENAI_CHAT.value if t.id in chat else TargetKind.CLASSIFIER.value,
            )
            for t in targets
        ),
    )
