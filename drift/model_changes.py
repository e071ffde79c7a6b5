"""Model changes, seen in the answers a target gave to the same evaluation sample over time.

The prober asks every target the same samples again and again. A deployed model answers a
sample with the same probability each time (up to float noise), so when most re-asked samples
suddenly answer differently, the model or its preprocessing changed. Unlike comparing windows
of texts, this compares a target with itself on identical inputs: a shift cannot come from
which samples happened to be drawn.

Pure: answers in, changes out. No database, no Evidently; labels only ever become an AUC.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import dropwhile
from typing import Protocol

from scoring.board import roc_auc

# Samples an AUC needs on each side of a change before it is worth printing.
AUC_MIN_SAMPLES = 10
# A candidate that has not met MIN_SAMPLES distinct samples after this many times as many
# re-asks is given up: the evaluation set is smaller than MIN_SAMPLES, and waiting longer
# would only grow memory.
PENDING_CAP_FACTOR = 4


class Answer(Protocol):
    """One ok predict probe (storage.drift.PredictAnswer): sample, probability, when sent (aware UTC)."""

    @property
    def sample_id(self) -> str: ...
    @property
    def probability(self) -> float: ...
    @property
    def started_at(self) -> datetime: ...


@dataclass(frozen=True)
class ModelChangeRules:
    """When a run of different answers is a model change (defaults in core.settings)."""

    min_samples: int  # distinct re-asked samples compared before deciding
    share: float  # at least this share of them answer differently
    tolerance: float  # |p_new - p_old| above this is a different answer


@dataclass(frozen=True)
class Comparison:
    """A sample's answer next to its previous answer."""

    sample_id: str
    p_old: float
    at_old: datetime
    p_new: float
    at_new: datetime

    @property
    def delta(self) -> float:
        return abs(self.p_new - self.p_old)


@dataclass(frozen=True)
class ModelChange:
    """One model change of one target. ``before``/``after`` hold probabilities, never labels."""

    at: datetime  # the first changed answer
    samples: int  # distinct samples compared across the change
    share_changed: float  # of them, the share answering more than the tolerance away
    mean_abs_delta: float  # mean |p_new - p_old| over them
    before: dict[str, float] = field(repr=False)  # sample id -> the answer just before the change
    after: dict[str, float] = field(repr=False)  # sample id -> its first answer from `at` on
    before_from: datetime  # the oldest answer in `before`
    after_to: datetime  # the newest answer in `after`

    def aucs(self, labels: Mapping[str, int]) -> tuple[float | None, float | None]:
        """ROC-AUC of the answers before and after on the same samples; None when too few or one class."""
        return _auc(self.before, labels), _auc(self.after, labels)


def _auc(probabilities: dict[str, float], labels: Mapping[str, int]) -> float | None:
    if sum(1 for s in probabilities if s in labels) < AUC_MIN_SAMPLES:
        return None
    auc, _, _ = roc_auc(probabilities, dict(labels))
    return auc


def comparisons(answers: Iterable[Answer]) -> Iterator[Comparison]:
    """Each answer after the first of its sample, beside the previous one; answers oldest first."""
    last: dict[str, tuple[float, datetime]] = {}
    for answer in answers:
        previous = last.get(answer.sample_id)
        if previous is not None:
            yield Comparison(
                answer.sample_id, previous[0], previous[1], answer.probability, answer.started_at
            )
        last[answer.sample_id] = (answer.probability, answer.started_at)


class _Candidate:
    """Comparisons from a changed answer on, with each sample's first one counted."""

    def __init__(self, events: Iterable[Comparison], tolerance: float) -> None:
        self.tolerance = tolerance
        self.events: deque[Comparison] = deque()
        self.firsts: dict[str, Comparison] = {}
        self.changed = 0
        for event in events:
            self.add(event)

    def add(self, event: Comparison) -> None:
        self.events.append(event)
        if event.sample_id not in self.firsts:
            self.firsts[event.sample_id] = event
            self.changed += event.delta > self.tolerance

    def change(self) -> ModelChange:
        firsts = list(self.firsts.values())
        return ModelChange(
            at=self.events[0].at_new,
            samples=len(firsts),
            share_changed=self.changed / len(firsts),
            mean_abs_delta=sum(c.delta for c in firsts) / len(firsts),
            before={c.sample_id: c.p_old for c in firsts},
            after={c.sample_id: c.p_new for c in firsts},
            before_from=min(c.at_old for c in firsts),
            after_to=max(c.at_new for c in firsts),
        )


def detect_model_changes(answers: Iterable[Answer], rules: ModelChangeRules) -> list[ModelChange]:
    """Model changes of one target, oldest first; ``answers`` of that target, oldest first.

    A change is called at the first changed answer from which at least ``rules.share`` of the
    next ``rules.min_samples`` distinct re-asked samples answer more than ``rules.tolerance``
    away from their previous answer. After that, the first re-asks of the remaining samples
    count towards the same change until some sample is asked a second time. Several changes
    in a row (A→B→A) are each found. Empty when none, or when fewer samples were re-asked.
    Memory: the last answer per sample and about one cycle of comparisons.
    """
    found: list[_Candidate] = []
    candidate: _Candidate | None = None
    absorbing: _Candidate | None = None
    cap = PENDING_CAP_FACTOR * rules.min_samples
    for event in comparisons(answers):
        if absorbing is not None:
            if event.sample_id not in absorbing.firsts:
                absorbing.add(event)
                continue
            absorbing = None
        if candidate is None:
            if event.delta <= rules.tolerance:
                continue
            candidate = _Candidate([], rules.tolerance)
        candidate.add(event)
        # Decide as soon as enough samples are in; a rejected start moves to the next changed answer.
        while candidate is not None:
            if len(candidate.firsts) < rules.min_samples and len(candidate.events) <= cap:
                break
            if (
                len(candidate.firsts) >= rules.min_samples
                and candidate.changed / len(candidate.firsts) >= rules.share
            ):
                found.append(candidate)
                absorbing, candidate = candidate, None
                break
            candidate.events.popleft()
            rest = list(dropwhile(lambda c: c.delta <= rules.tolerance, candidate.events))
            candidate = _Candidate(rest, rules.tolerance) if rest else None
    return [c.change() for c in found]
