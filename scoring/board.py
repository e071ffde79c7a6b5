"""The scoreboard: measurements in, graded and ranked targets out, each number explained.

Scoring is fetch, then grade. ``storage.grading_inputs.fetch_grading_inputs`` reads everything
in one step into frozen plain data; ``grade_inputs`` and the component functions below are pure
(no session, no I/O). ``compute_scoreboard`` and ``grade_now`` are the two entry points that hold
a session, and they hand it to storage before anything is graded. ``grade_now`` also reads the
baseline's ``sample_submission.csv``. The arithmetic lives in ``scoring.points``, the rules in
``scoring.rules``: nothing here reads settings; callers pass typed ``Rules``/``GradingDefaults``.

Hidden labels enter here (``GradingInputs.labels``) and only aggregate numbers leave: an AUC, how
many samples it was computed on, never a label or a per-sample value.

What the window is. Per target, ``[start, at)`` where start is its registration (or, with
``window.days`` in the rules, the later of that and ``at - days``). Uptime counts only health
probes inside the prober's coverage; 200-rate counts every predict probe of the window; latency
only its ok predict probes (a fast 404 is not a fast answer); AUC uses each sample's latest valid
(ok) answer before ``at``.

A component without data gets ``points=None`` and a reason. In the total it counts as 0 (see
``scoring.points``), so silence never pays, but it is shown as missing, never as a measured zero.
Measured but not gradable is a zero with its reason instead: a probed target with no ok predict
probe gets 0 latency points (``no valid answer to time``); an AUC below ``auc.min_coverage`` of
the evaluation set, or of a name that breaks ``auc.name_pattern``, gets 0 AUC points and takes no
place in the AUC ranking, so it pushes nobody down; its raw AUC is still shown.

Ranks follow the total; a tie in it (a fresh course, every multiplier 0) is broken by the base
score, the weighted sum before the multiplier, which every output shows as its own column.

A board per kind of target. Classifiers are ``Scoreboard.targets``, graded as above. openai-chat
targets are ``Scoreboard.llm_targets``, ranked among themselves under the rules' ``[llm]`` table:
time to first token (the ttft statistic over ok ``chat`` probes) in place of latency, uptime from
health probes as for classifiers, 200-rate over every ``chat`` probe, no AUC, and the same lifetime
multiplier and window. Their ``auth`` probes (key enforcement) count in no component: an open
service is shown in red to its team, not graded. Neither board changes the other's numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.contract import TargetKind
from core.errors import ClfwatchError
from scoring.points import (
    SECONDS_PER_DAY,
    auc_places,
    auc_points_by_rank,
    auc_points_by_value,
    board_ranks,
    lifetime_multiplier,
    linear_points,
    weighted_sum,
)
from scoring.rules import (
    COMPONENTS,
    LLM_COMPONENTS,
    GradingDefaults,
    Rules,
    RulesError,
    parse_rules,
    rules_to_dict,
)
from storage.grading import get_grading_config
from storage.grading_inputs import GradingInputs, TargetMeasurements, fetch_grading_inputs
from storage.windows import WindowAggregates

if TYPE_CHECKING:  # the session only passes through, to storage; scoring never queries
    from sqlalchemy.orm import Session

NO_VALID_ANSWER_TO_TIME = "no valid answer to time"
NO_STREAM_TO_TIME = "no valid streamed answer to time"
NAME_RULE_REASON = "name does not follow the course pattern"
# Without any baseline, a classifier guessing at random (AUC 0.5) is the zero of the AUC scale.
RANDOM_AUC = 0.5
JSON_DECIMALS = 6


class UnknownTargetError(ClfwatchError, ValueError):
    """No target of that name is on the scoreboard."""


@dataclass(frozen=True)
class ComponentScore:
    """One component of one target.

    ``raw`` is the measure in the rules' unit: latency in seconds, uptime and rate200 as shares
    in [0, 1], auc as ROC-AUC. ``points`` in [0, 1], None when there was no data; ``reason``
    always says what was measured or why nothing was.
    """

    raw: float | None
    points: float | None
    reason: str


@dataclass
class TargetScore:
    """One target's grade. ``total`` counts a missing component as 0 points."""

    name: str
    target_id: int
    rank: int
    components: dict[str, ComponentScore]
    multiplier: float
    total: float
    stress_points: int | None  # score of the newest finished stress run, out of 10; None: never run
    gaps: list[tuple[datetime, datetime]]  # prober gaps inside the window, not charged
    last_probe_at: datetime | None
    lifetime_s: float
    registered_at: datetime
    window_start: datetime
    window_end: datetime
    aggregates: WindowAggregates | None = None  # None when the window is empty
    auc_samples: int = 0  # evaluation samples the AUC was computed on
    auc_place: int | None = None  # place among targets above the baseline (rank mode)
    auc_above: int = 0  # how many targets beat the baseline
    # Share of the evaluation set answered validly (latest ok answer per sample), 0..1; None
    # without an evaluation set or with an empty window.
    auc_coverage: float | None = None
    auc_excluded: bool = False  # AUC ruled out by coverage or the name rule: 0 points, no place
    base: float = 0.0  # weighted sum of the components before the multiplier; breaks ties in total
    kind: str = TargetKind.CLASSIFIER.value  # which board: classifier or openai-chat


@dataclass
class Scoreboard:
    """Every target graded at ``at`` under ``rules``: one board per kind, each sorted by rank then name.

    ``targets`` is the classifier board (the one every classifier-only output always showed),
    ``llm_targets`` the openai-chat board; ranks count within a board.
    """

    at: datetime
    rules: Rules
    targets: list[TargetScore]
    baseline_auc: float | None
    baseline_reason: str
    eval_samples: int = 0
    llm_targets: list[TargetScore] = field(default_factory=list)

    @property
    def boards(self) -> dict[str, list[TargetScore]]:
        """Kind (``core.contract.TargetKind`` value) to its board, classifiers first; always both."""
        return {TargetKind.CLASSIFIER.value: self.targets, TargetKind.OPENAI_CHAT.value: self.llm_targets}

    @property
    def all_targets(self) -> list[TargetScore]:
        """Both boards, the classifiers' first."""
        return [*self.targets, *self.llm_targets]

    def board_of(self, score: TargetScore) -> list[TargetScore]:
        """The board ``score`` is ranked on (its kind's)."""
        return self.boards.get(score.kind, self.targets)

    def target(self, name: str) -> TargetScore:
        """The target called ``name`` on either board; UnknownTargetError if it is on neither."""
        for t in self.all_targets:
            if t.name == name:
                return t
        raise UnknownTargetError(f"no target named {name[:64]!r} on the scoreboard")

    def to_dict(self) -> dict[str, Any]:
        """The ``clfwatch score --format json`` document of the design: ``targets`` is the classifier
        board; ``llm_targets``, the openai-chat board (components ttft, uptime, rate200), is there
        only when an openai-chat target is, so a classifier course's document keeps its shape."""
        document = {
            "at": _iso(self.at),
            "rules": rules_to_dict(self.rules),
            "targets": [_target_dict(t) for t in self.targets],
        }
        if self.llm_targets:
            document["llm_targets"] = [_target_dict(t) for t in self.llm_targets]
        return document


def _target_dict(t: TargetScore) -> dict[str, Any]:
    return {
        "name": t.name,
        "rank": t.rank,
        "components": {
            name: {"raw": _round(c.raw), "points": _round(c.points), "reason": c.reason}
            | ({"coverage": _round(t.auc_coverage)} if name == "auc" else {})
            for name, c in t.components.items()
        },
        "base": _round(t.base),
        "multiplier": _round(t.multiplier),
        "total": _round(t.total),
        "stress_points": t.stress_points,
        "gaps": [[_iso(s), _iso(e)] for s, e in t.gaps],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, JSON_DECIMALS)


def _iso(at: datetime) -> str:
    """To the second: the grade is not that precise, and people read these in the "why" lines."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _pct(share: float) -> str:
    return f"{100 * share:.2f} %"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


# --- components ----------------------------------------------------------------------------


def window_start(registered_at: datetime, at: datetime, rules: Rules) -> datetime:
    """Registration, or with ``window.days`` the later of registration and ``at - days``."""
    if rules.window_days is None:
        return registered_at
    return max(registered_at, at - timedelta(days=rules.window_days))


def latency_component(agg: WindowAggregates, rules: Rules) -> ComponentScore:
    """Latency points from the statistic over ok predict probes.

    None (no data) when the target was not probed at all in the window; 0 points with the reason
    ``no valid answer to time`` when it was probed but no predict probe was ok.
    """
    return _timed_component(agg, rules.latency_zero_at_s, rules.latency_full_at_s, probes="predict",
                            measure="", answer="valid answer", no_answer=NO_VALID_ANSWER_TO_TIME)


def _timed_component(
    agg: WindowAggregates, zero_at_s: float, full_at_s: float, *,
    probes: str, measure: str, answer: str, no_answer: str,
) -> ComponentScore:
    """Points from ``agg``'s latency statistic (whole answers of predict probes, or the time to
    first token of chat probes: the kind ``agg`` was read for), on a linear scale in seconds."""
    if agg.latency_ms is None:
        if agg.predict.n_total == 0 and agg.health.n_total == 0:
            return ComponentScore(None, None, f"no {probes} probes in the window")
        return ComponentScore(None, 0.0, no_answer)
    raw_s = agg.latency_ms / 1000.0
    untimed = agg.predict.n_total - agg.latency_n
    left_out = f" ({untimed} without a {answer} not timed)" if untimed > 0 else ""
    return ComponentScore(
        raw_s, linear_points(raw_s, zero_at_s, full_at_s),
        f"{agg.latency_statistic} {measure}{raw_s:.4f} s over {agg.latency_n} ok {probes} "
        f"probes{left_out}; 0 at {zero_at_s:g} s, full at {full_at_s:g} s",
    )


def uptime_component(agg: WindowAggregates, rules: Rules) -> ComponentScore:
    """Uptime points from health probes inside the prober's coverage; None without any."""
    return _uptime(agg, rules.uptime_zero_at, rules.uptime_full_at)


def _uptime(agg: WindowAggregates, zero_at: float, full_at: float) -> ComponentScore:
    if agg.covered_s <= 0:
        return ComponentScore(None, None, "the prober did not run during the window")
    if agg.health.n_total == 0:
        return ComponentScore(None, None, f"no health probes in the {_hours(agg.covered_s)} the prober ran")
    share = agg.health.n_ok / agg.health.n_total
    points = linear_points(share, zero_at, full_at)
    gaps = f", {len(agg.gaps)} prober gap(s) not charged" if agg.gaps else ""
    return ComponentScore(
        share, points,
        f"{agg.health.n_ok} of {agg.health.n_total} health probes ok{gaps}; "
        f"0 at {_pct(zero_at)}, full at {_pct(full_at)}",
    )


def rate200_component(agg: WindowAggregates, rules: Rules) -> ComponentScore:
    """200-rate points from every predict probe of the window; None without any."""
    return _rate200(agg, rules.rate200_zero_at, rules.rate200_full_at)


def _rate200(agg: WindowAggregates, zero_at: float, full_at: float) -> ComponentScore:
    kind = agg.answer_kind
    if agg.predict.n_total == 0:
        return ComponentScore(None, None, f"no {kind} probes in the window")
    share = agg.predict.n_200 / agg.predict.n_total
    points = linear_points(share, zero_at, full_at)
    return ComponentScore(
        share, points,
        f"{agg.predict.n_200} of {agg.predict.n_total} {kind} probes answered 200; "
        f"0 at {_pct(zero_at)}, full at {_pct(full_at)}",
    )


def ttft_component(agg: WindowAggregates, rules: Rules) -> ComponentScore:
    """Time-to-first-token points of an openai-chat target, from ok ``chat`` probes (``agg`` must
    have been read with ``answer_kind="chat"``; its latency is the time to first token).

    None (no data) when the target was not probed at all in the window; 0 points with the reason
    ``no valid streamed answer to time`` when it was probed but no chat probe was ok.
    """
    return _timed_component(agg, rules.llm_ttft_zero_at_s, rules.llm_ttft_full_at_s, probes="chat",
                            measure="time to first token ", answer="valid streamed answer",
                            no_answer=NO_STREAM_TO_TIME)


def llm_components(agg: WindowAggregates, rules: Rules) -> dict[str, ComponentScore]:
    """The components of an openai-chat target (LLM_COMPONENTS) under the rules' ``[llm]`` table."""
    return {
        "ttft": ttft_component(agg, rules),
        "uptime": _uptime(agg, rules.llm_uptime_zero_at, rules.llm_uptime_full_at),
        "rate200": _rate200(agg, rules.llm_rate200_zero_at, rules.llm_rate200_full_at),
    }


def binary_roc_auc(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """ROC-AUC of 0/1 labels, ties counted half: the Mann-Whitney rank formula.

    The same number as ``sklearn.metrics.roc_auc_score`` (tests check it case by case), without its
    input validation, which costs milliseconds per call: hundreds of targets would pay it each time
    the scoreboard is drawn. Needs both classes.
    """
    y = np.asarray(y_true, dtype=bool)
    _, inverse, counts = np.unique(np.asarray(scores, dtype=float), return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties share their mean rank
    ranks = average_rank[inverse]
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(
    probabilities: Mapping[str, float], labels: Mapping[str, int]
) -> tuple[float | None, int, str]:
    """ROC-AUC of answered samples against their labels: (auc, samples used, reason if None).

    Pairs are taken in sample-id order, so the same answers give the same AUC to the last bit,
    whatever order the database returned them in.
    """
    pairs = [(labels[s], probabilities[s]) for s in sorted(probabilities) if s in labels]
    if not pairs:
        return None, 0, "no evaluation sample answered ok"
    y_true = [y for y, _ in pairs]
    if len(set(y_true)) < 2:
        return None, len(pairs), f"the {len(pairs)} answered samples hold one class only; AUC needs both"
    return binary_roc_auc(y_true, [p for _, p in pairs]), len(pairs), ""


def coverage_reason(used: int, n_labels: int) -> str:
    """``answered N % of the evaluation set``, N rounded down, so 89.9 % never reads as 90 %."""
    return f"answered {100 * used // n_labels} % of the evaluation set"


def auc_gate(
    name: str, auc: float | None, why: str, used: int, n_labels: int, probed: bool, rules: Rules
) -> ComponentScore | None:
    """The AUC component of a target that takes no place in the AUC ranking; None if it takes one.

    In this order: a name that breaks ``auc.name_pattern`` gets 0 points; a target never asked
    for an answer has no data (None points); one that answered less than ``auc.min_coverage`` of
    the evaluation set gets 0 points; an AUC that cannot be computed (one class) has no data.
    A raw AUC, when there is one, is kept beside the 0 points.
    """
    if not rules.name_follows_pattern(name):
        return ComponentScore(auc, 0.0, NAME_RULE_REASON)
    if used == 0 and not probed:
        return ComponentScore(None, None, why)
    if used / n_labels < rules.auc_min_coverage:
        return ComponentScore(auc, 0.0, coverage_reason(used, n_labels))
    if auc is None:
        return ComponentScore(None, None, why)
    return None


# --- the board -------------------------------------------------------------------------------


def compute_scoreboard(
    session: Session,
    *,
    at: datetime,
    rules: Rules,
    baseline_auc: float | None,
    baseline_reason: str | None = None,
) -> Scoreboard:
    """Fetch every target's measurements at ``at``, then grade them; see ``grade_inputs``."""
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    inputs = fetch_grading_inputs(
        session, at=at, window_start=lambda registered_at: window_start(registered_at, at, rules),
        latency_statistic=rules.latency_statistic, ttft_statistic=rules.llm_ttft_statistic,
    )
    return grade_inputs(inputs, rules=rules, baseline_auc=baseline_auc, baseline_reason=baseline_reason)


def grade_inputs(
    inputs: GradingInputs,
    *,
    rules: Rules,
    baseline_auc: float | None,
    baseline_reason: str | None = None,
) -> Scoreboard:
    """Grade every target of ``inputs`` (pure); an empty board when none is registered.

    ``inputs`` must have been fetched with this ``rules``' window and latency statistics.
    ``baseline_auc`` None: the AUC scale's zero is a random classifier (0.5), said in each reason.
    openai-chat targets go to ``llm_targets`` (``grade_llm_targets``), ranked among themselves.
    """
    at = inputs.at
    if baseline_reason is None:
        baseline_reason = "given" if baseline_auc is not None else "no baseline given"
    labels: Mapping[str, int] = inputs.labels
    board = Scoreboard(at=at, rules=rules, targets=[], baseline_auc=baseline_auc,
                       baseline_reason=baseline_reason, eval_samples=len(labels))
    board.llm_targets = grade_llm_targets(
        [t for t in inputs.targets if t.kind == TargetKind.OPENAI_CHAT], at=at, rules=rules
    )
    classifiers = [t for t in inputs.targets if t.kind != TargetKind.OPENAI_CHAT]
    if not classifiers:
        return board
    scores: list[TargetScore] = []
    aucs: dict[str, float] = {}
    for t in classifiers:
        score = _new_score(t, at, rules)
        agg = t.aggregates
        if t.window_is_empty or agg is None:
            why = "registered after the grading time: empty window"
            score.components = {c: ComponentScore(None, None, why) for c in COMPONENTS}
            scores.append(score)
            continue
        score.aggregates = agg
        score.gaps = list(agg.gaps)
        score.components = {
            "latency": latency_component(agg, rules),
            "uptime": uptime_component(agg, rules),
            "rate200": rate200_component(agg, rules),
        }
        if not labels:
            score.components["auc"] = ComponentScore(None, None, "no evaluation set loaded")
            scores.append(score)
            continue
        auc, used, why = roc_auc(t.probabilities, labels)
        score.auc_samples = used
        score.auc_coverage = used / len(labels)
        ruled = auc_gate(t.name, auc, why, used, len(labels), agg.predict.n_total > 0, rules)
        if ruled is not None:
            score.components["auc"] = ruled
            score.auc_excluded = ruled.points is not None
        elif auc is not None:
            aucs[t.name] = auc
        scores.append(score)

    _grade_auc(scores, aucs, rules, baseline_auc, len(labels))
    weights = {c: rules.weight(c) for c in COMPONENTS}
    for s in scores:
        s.base = weighted_sum({c: s.components[c].points for c in COMPONENTS}, weights)
        s.total = s.base * s.multiplier
    ranks = board_ranks({s.name: (s.total, s.base) for s in scores})
    for s in scores:
        s.rank = ranks[s.name]
    board.targets = sorted(scores, key=lambda s: (s.rank, s.name))
    return board


def _new_score(t: TargetMeasurements, at: datetime, rules: Rules) -> TargetScore:
    score = TargetScore(
        name=t.name, target_id=t.target_id, rank=0, components={}, multiplier=0.0, total=0.0,
        stress_points=t.stress_points, gaps=[], last_probe_at=t.last_probe_at,
        lifetime_s=max(0.0, (at - t.registered_at).total_seconds()), registered_at=t.registered_at,
        window_start=t.window_start, window_end=at, kind=t.kind,
    )
    score.multiplier = lifetime_multiplier(score.lifetime_s, rules.lifetime_days)
    return score


def grade_llm_targets(
    targets: Sequence[TargetMeasurements], *, at: datetime, rules: Rules
) -> list[TargetScore]:
    """The openai-chat board (pure): LLM_COMPONENTS weighted by ``[llm]``, times the lifetime
    multiplier, ranked among these targets only; an empty list for no targets."""
    scores: list[TargetScore] = []
    weights = {c: rules.llm_weight(c) for c in LLM_COMPONENTS}
    for t in targets:
        score = _new_score(t, at, rules)
        agg = t.aggregates
        if t.window_is_empty or agg is None:
            why = "registered after the grading time: empty window"
            score.components = {c: ComponentScore(None, None, why) for c in LLM_COMPONENTS}
        else:
            score.aggregates = agg
            score.gaps = list(agg.gaps)
            score.components = llm_components(agg, rules)
        score.base = weighted_sum({c: score.components[c].points for c in LLM_COMPONENTS}, weights)
        score.total = score.base * score.multiplier
        scores.append(score)
    ranks = board_ranks({s.name: (s.total, s.base) for s in scores})
    for s in scores:
        s.rank = ranks[s.name]
    return sorted(scores, key=lambda s: (s.rank, s.name))


def _grade_auc(
    scores: list[TargetScore], aucs: dict[str, float], rules: Rules, baseline_auc: float | None,
    n_labels: int,
) -> None:
    """Points and places for the AUCs that take part in the ranking (``aucs``: name -> AUC)."""
    zero = baseline_auc if baseline_auc is not None else RANDOM_AUC
    zero_text = (f"baseline {zero:.4f}" if baseline_auc is not None
                 else f"no baseline, so a random classifier's {RANDOM_AUC}")
    grade = auc_points_by_rank if rules.auc_mode == "rank" else auc_points_by_value
    points = grade(aucs, zero)
    above = {n: a for n, a in aucs.items() if a > zero}
    places = auc_places(above)
    for s in scores:
        if s.name not in aucs:
            continue
        auc = aucs[s.name]
        s.auc_above = len(above)
        s.auc_place = places.get(s.name)
        if auc <= zero:
            how = f"at or below the {zero_text}"
        elif rules.auc_mode == "rank":
            how = f"place {places[s.name]} of {len(above)} above the {zero_text}"
        else:
            how = f"between the {zero_text} and the best {max(above.values()):.4f}"
        s.components["auc"] = ComponentScore(
            auc, points[s.name], f"AUC {auc:.4f} on {s.auc_samples} of {n_labels} samples; {how}"
        )


def explain_target(board: Scoreboard, name: str) -> list[str]:
    """The "why" of one target's grade: rules applied and inputs used, enough to redo it by hand."""
    t = board.target(name)
    if t.kind == TargetKind.OPENAI_CHAT:
        return _explain_llm_target(board, t)
    r = board.rules
    lines = _window_lines(
        f"{t.name}: rank {t.rank} of {len(board.targets)}, total {t.total:.4f}, graded at {_iso(board.at)}",
        t, r,
    )
    agg = t.aggregates
    if agg is not None:
        lines.append(f"latency input: {agg.latency_method}")
    for c in COMPONENTS:
        comp = t.components[c]
        weight = r.weight(c)
        if comp.points is None:
            lines.append(f"{c}: missing ({comp.reason}); counts 0 points in the total (weight {weight:g})")
            continue
        if comp.raw is None or (c == "auc" and t.auc_excluded):
            lines.append(f"{c}: {_raw_text(c, comp.raw)} → {comp.points:.4f} points × weight {weight:g}; "
                         f"{comp.reason}" + (f"; {_auc_rule_text(r)}" if c == "auc" else ""))
            continue
        lines.append(f"{c}: {_raw_text(c, comp.raw)} → {comp.points:.4f} points × weight {weight:g}; "
                     f"{comp.reason}; {_scale_text(c, comp, r, board)}")
    if t.auc_coverage is not None:
        lines.append(f"auc coverage: {t.auc_samples} of {board.eval_samples} evaluation samples answered "
                     f"validly ({_pct(t.auc_coverage)}); the latest valid answer per sample counts")
    weights = {c: r.weight(c) for c in COMPONENTS}
    sum_points = weighted_sum({c: t.components[c].points for c in COMPONENTS}, weights)
    return lines + _total_lines(t, r, weights, sum_points)


def _window_lines(head: str, t: TargetScore, r: Rules) -> list[str]:
    """The first lines of a "why": which board and rank, the window, the prober's coverage."""
    lines = [
        head,
        f"window: {_iso(t.window_start)} to {_iso(t.window_end)}"
        + (" (from registration)" if r.window_days is None else f" (last {r.window_days:g} days at most)"),
    ]
    agg = t.aggregates
    if agg is not None:
        lines.append(
            f"prober ran {_hours(agg.covered_s)} of the window; "
            + (f"{len(agg.gaps)} gap(s) not charged: "
               + ", ".join(f"{_iso(s)} to {_iso(e)}" for s, e in agg.gaps[:10])
               + (" ..." if len(agg.gaps) > 10 else "") if agg.gaps else "no gaps")
        )
    return lines


def _total_lines(t: TargetScore, r: Rules, weights: dict[str, float], sum_points: float) -> list[str]:
    """The last lines of a "why", the same on both boards: multiplier, total, base, stress."""
    terms = " + ".join(f"{w:g}×{(t.components[c].points or 0.0):.4f}" for c, w in weights.items())
    return [
        f"lifetime: {t.lifetime_s / SECONDS_PER_DAY:.3f} days since registration "
        f"{_iso(t.registered_at)}; multiplier = min(lifetime, {r.lifetime_days:g} d) / "
        f"{r.lifetime_days:g} d = {t.multiplier:.4f}",
        f"total = ({terms}) × {t.multiplier:.4f} = {sum_points:.4f} × {t.multiplier:.4f} = {t.total:.4f}",
        f"base score (before the multiplier) = {t.base:.4f}; it breaks a tie in the total",
        "stress (graded apart): "
        + (f"{t.stress_points}/10 in the newest finished run" if t.stress_points is not None
           else "never run"),
    ]


def _explain_llm_target(board: Scoreboard, t: TargetScore) -> list[str]:
    """``explain_target`` of an openai-chat target: the ``[llm]`` rules and the chat inputs."""
    r = board.rules
    lines = _window_lines(
        f"{t.name}: openai-chat target, rank {t.rank} of {len(board.llm_targets)} on the LLM board, "
        f"total {t.total:.4f}, graded at {_iso(board.at)}",
        t, r,
    )
    agg = t.aggregates
    if agg is not None:
        lines.append(f"ttft input: {agg.latency_method}")
        lines.append(f"inputs: {agg.predict.n_total} chat probes ({agg.predict.n_ok} ok, "
                     f"{agg.predict.n_200} answered 200), {agg.health.n_total} health probes inside "
                     f"the prober's coverage ({agg.health.n_ok} ok); key-enforcement (auth) probes "
                     "count in no component")
    weights = {c: r.llm_weight(c) for c in LLM_COMPONENTS}
    for c in LLM_COMPONENTS:
        comp = t.components[c]
        if comp.points is None:
            lines.append(f"{c}: missing ({comp.reason}); counts 0 points in the total "
                         f"(weight {weights[c]:g})")
            continue
        head = (f"{c}: {_raw_text(c, comp.raw)} → {comp.points:.4f} points × weight {weights[c]:g}; "
                f"{comp.reason}")
        if comp.raw is None:
            lines.append(head)
            continue
        zero, full = r.llm_scale(c)
        lines.append(f"{head}; points = clamp(({comp.raw:.6f} - {zero:g}) / ({full:g} - {zero:g}))")
    return lines + _total_lines(t, r, weights, t.base)


def _raw_text(component: str, raw: float | None) -> str:
    if raw is None:
        return "n/a"
    if component in ("latency", "ttft"):
        return f"{raw * 1000:.1f} ms"
    if component in ("uptime", "rate200"):
        return _pct(raw)
    return f"AUC {raw:.4f}"


def _auc_rule_text(r: Rules) -> str:
    pattern = f"names must match {r.auc_name_pattern!r}" if r.auc_name_pattern is not None else "no name rule"
    return (f"no place in the AUC ranking: at least {_pct(r.auc_min_coverage)} of the evaluation set "
            f"must be answered validly, {pattern}")


def _scale_text(component: str, comp: ComponentScore, r: Rules, board: Scoreboard) -> str:
    if component == "latency":
        return (f"points = clamp(({comp.raw:.4f} - {r.latency_zero_at_s:g}) / "
                f"({r.latency_full_at_s:g} - {r.latency_zero_at_s:g}))")
    if component in ("uptime", "rate200"):
        zero, full = getattr(r, f"{component}_zero_at"), getattr(r, f"{component}_full_at")
        return f"points = clamp(({comp.raw:.6f} - {zero:g}) / ({full:g} - {zero:g}))"
    base = (f"baseline {board.baseline_auc:.4f} ({board.baseline_reason})" if board.baseline_auc is not None
            else f"baseline unknown ({board.baseline_reason}); zero at {RANDOM_AUC}")
    if r.auc_mode == "rank":
        return f"by rank: the baseline is the last place, n above it → (n + 1 - place) / n; {base}"
    return f"by value: (auc - baseline) / (best - baseline), clamped; {base}"


# --- grading now: resolving the defense time, rules and baseline --------------------------------


def submission_path() -> Path:
    """Where the service ships ``sample_submission.csv`` (service/data owns that fact)."""
    from service.data import DATA_DIR, SUBMISSION_FILE  # a downward import, see [tool.importlinter]

    return Path(DATA_DIR) / SUBMISSION_FILE


def submission_baseline(labels: Mapping[str, int], path: Path | None = None) -> tuple[float | None, str]:
    """AUC of the sample submission (columns id,probability) against the labels, with its source.

    ``(None, reason)`` when the file is missing or malformed, or shares too few samples.
    """
    path = path or submission_path()
    if not labels:
        return None, "no evaluation set loaded"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None, f"{path.name} not found or unreadable"
    probabilities: dict[str, float] = {}
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not {"id", "probability"} <= set(reader.fieldnames or []):
        return None, f"{path.name} lacks the columns id,probability"
    for record in reader:
        try:
            p = float(record["probability"])
        except (TypeError, ValueError):
            return None, f"{path.name} line {reader.line_num}: probability is not a number"
        if not math.isfinite(p):
            return None, f"{path.name} line {reader.line_num}: probability is not finite"
        probabilities[(record["id"] or "").strip()] = p
    auc, used, why = roc_auc(probabilities, labels)
    if auc is None:
        return None, f"{path.name}: {why}"
    return auc, f"AUC of {path.name} on {used} samples"


def grade_now(
    session: Session,
    defaults: GradingDefaults,
    *,
    at: datetime | None = None,
    rules: Rules | None = None,
) -> Scoreboard:
    """The scoreboard with everything resolved; ``at``/``rules`` override the stored choices.

    Time: grading_config.defense_at, then ``defaults.defense_at`` (CLFWATCH_DEFENSE_AT), then now.
    Rules: grading_config's TOML (RulesError if it is malformed), then ``defaults.rules``
    (CLFWATCH_RULES_FILE or the built-in defaults). Baseline: grading_config.baseline_auc, then
    the AUC of sample_submission.csv. Reads the configuration, then fetches once, then grades.
    """
    config = get_grading_config(session)
    at = at or config.defense_at or defaults.defense_at or datetime.now(UTC)
    if rules is None:
        if config.rules_toml:
            try:
                rules = parse_rules(config.rules_toml)
            except RulesError as exc:
                raise RulesError(f"stored grading rules: {exc}") from None
        else:
            rules = defaults.rules
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    chosen = rules
    inputs = fetch_grading_inputs(
        session, at=at, window_start=lambda registered_at: window_start(registered_at, at, chosen),
        latency_statistic=rules.latency_statistic, ttft_statistic=rules.llm_ttft_statistic,
    )
    baseline: float | None
    if config.baseline_auc is not None:
        baseline, reason = config.baseline_auc, "set in the grading configuration"
    else:
        baseline, reason = submission_baseline(inputs.labels)
    return grade_inputs(inputs, rules=rules, baseline_auc=baseline, baseline_reason=reason)
