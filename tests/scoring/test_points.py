"""Hand-computed cases for every scale, the AUC ranking, the lifetime multiplier and the total."""

from __future__ import annotations

import pytest

from scoring.points import (
    SECONDS_PER_DAY,
    TIE_TOLERANCE,
    auc_places,
    auc_points_by_rank,
    auc_points_by_value,
    board_ranks,
    competition_ranks,
    lifetime_multiplier,
    linear_points,
    total_points,
)
from scoring.rules import DEFAULT_RULES as R

EPS = 1e-4


@pytest.mark.parametrize(
    ("raw", "zero_at", "full_at", "expected"),
    [
        # latency, seconds: 0 points at 0.5 s, full at 0 s
        (0.5, R.latency_zero_at_s, R.latency_full_at_s, 0.0),
        (0.5 + EPS, R.latency_zero_at_s, R.latency_full_at_s, 0.0),
        (0.5 - EPS, R.latency_zero_at_s, R.latency_full_at_s, EPS / 0.5),
        (0.0, R.latency_zero_at_s, R.latency_full_at_s, 1.0),
        (0.25, R.latency_zero_at_s, R.latency_full_at_s, 0.5),
        (30.0, R.latency_zero_at_s, R.latency_full_at_s, 0.0),
        # uptime share: 0 at 95 %, full at 100 %
        (0.95, R.uptime_zero_at, R.uptime_full_at, 0.0),
        (0.95 - EPS, R.uptime_zero_at, R.uptime_full_at, 0.0),
        (0.95 + EPS, R.uptime_zero_at, R.uptime_full_at, EPS / 0.05),
        (1.0, R.uptime_zero_at, R.uptime_full_at, 1.0),
        (1.0 - EPS, R.uptime_zero_at, R.uptime_full_at, 1 - EPS / 0.05),
        (0.992, R.uptime_zero_at, R.uptime_full_at, 0.84),
        (0.0, R.uptime_zero_at, R.uptime_full_at, 0.0),
        # 200-rate share: same scale
        (0.95, R.rate200_zero_at, R.rate200_full_at, 0.0),
        (0.975, R.rate200_zero_at, R.rate200_full_at, 0.5),
        (1.0, R.rate200_zero_at, R.rate200_full_at, 1.0),
    ],
)
def test_linear_points(raw: float, zero_at: float, full_at: float, expected: float) -> None:
    assert linear_points(raw, zero_at, full_at) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("aucs", "baseline", "expected"),
    [
        ({"a": 0.9, "b": 0.8, "c": 0.7}, 0.6, {"a": 1.0, "b": 2 / 3, "c": 1 / 3}),
        # ties share the better place
        ({"a": 0.9, "b": 0.9, "c": 0.7}, 0.6, {"a": 1.0, "b": 1.0, "c": 1 / 3}),
        ({"a": 0.9, "b": 0.7, "c": 0.7}, 0.6, {"a": 1.0, "b": 2 / 3, "c": 2 / 3}),
        # at or below the baseline: 0, and not counted among the places
        ({"a": 0.9, "b": 0.6, "c": 0.5}, 0.6, {"a": 1.0, "b": 0.0, "c": 0.0}),
        ({"a": 0.9, "b": 0.6 + 1e-9}, 0.6, {"a": 1.0, "b": 0.5}),
        # one target alone
        ({"a": 0.61}, 0.6, {"a": 1.0}),
        ({"a": 0.6}, 0.6, {"a": 0.0}),
        # all equal
        ({"a": 0.8, "b": 0.8, "c": 0.8}, 0.6, {"a": 1.0, "b": 1.0, "c": 1.0}),
        ({"a": 0.5, "b": 0.5}, 0.6, {"a": 0.0, "b": 0.0}),
        ({}, 0.6, {}),
    ],
)
def test_auc_by_rank(aucs: dict[str, float], baseline: float, expected: dict[str, float]) -> None:
    assert auc_points_by_rank(aucs, baseline) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("aucs", "baseline", "expected"),
    [
        ({"a": 0.9, "b": 0.75, "c": 0.6}, 0.6, {"a": 1.0, "b": 0.5, "c": 0.0}),
        ({"a": 0.9, "b": 0.5}, 0.6, {"a": 1.0, "b": 0.0}),
        ({"a": 0.61}, 0.6, {"a": 1.0}),
        ({"a": 0.8, "b": 0.8}, 0.6, {"a": 1.0, "b": 1.0}),
        ({"a": 0.55, "b": 0.6}, 0.6, {"a": 0.0, "b": 0.0}),
        ({}, 0.6, {}),
    ],
)
def test_auc_by_value(aucs: dict[str, float], baseline: float, expected: dict[str, float]) -> None:
    assert auc_points_by_value(aucs, baseline) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("lifetime_days", "expected"),
    [(3.5, 0.5), (7.0, 1.0), (7.0 + 1e-6, 1.0), (30.0, 1.0), (0.0, 0.0), (-1.0, 0.0), (1.75, 0.25)],
)
def test_lifetime_multiplier(lifetime_days: float, expected: float) -> None:
    assert lifetime_multiplier(lifetime_days * SECONDS_PER_DAY, 7.0) == pytest.approx(expected)


WEIGHTS = {"latency": 1.0, "uptime": 1.0, "rate200": 1.0, "auc": 1.0}


@pytest.mark.parametrize(
    ("points", "weights", "multiplier", "expected"),
    [
        ({"latency": 0.8, "uptime": 1.0, "rate200": 1.0, "auc": 1.0}, WEIGHTS, 1.0, 3.8),
        ({"latency": 0.5, "uptime": 0.0, "rate200": 1.0, "auc": 0.0}, WEIGHTS, 0.5, 0.75),
        # missing components count 0
        ({"latency": None, "uptime": None, "rate200": 1.0, "auc": 1 / 3}, WEIGHTS, 1.0, 4 / 3),
        ({"latency": None, "uptime": None, "rate200": None, "auc": None}, WEIGHTS, 1.0, 0.0),
        ({"latency": 1.0, "uptime": 1.0, "rate200": 1.0, "auc": 1.0},
         {"latency": 2.0, "uptime": 0.5, "rate200": 0.5, "auc": 0.0}, 1.0, 3.0),
    ],
)
def test_total(points: dict[str, float | None], weights: dict[str, float], multiplier: float,
               expected: float) -> None:
    assert total_points(points, weights, multiplier) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("totals", "expected"),
    [
        ({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 1, "b": 2, "c": 3}),
        ({"a": 3.0, "b": 3.0, "c": 1.0}, {"a": 1, "b": 1, "c": 3}),
        ({"a": 0.1 + 0.2, "b": 0.3}, {"a": 1, "b": 1}),  # float noise is a tie, not a rank
        ({"a": 0.0}, {"a": 1}),
        ({}, {}),
    ],
)
def test_competition_ranks(totals: dict[str, float], expected: dict[str, int]) -> None:
    assert competition_ranks(totals) == expected


# The pairwise definitions the ranks had (O(n^2): 4 s for 3000 targets), kept as the oracle for
# the bisecting ones. Tolerance makes "ahead" no strict order, so the cases below crowd values
# within, at and just beyond TIE_TOLERANCE of each other, where a sort-based shortcut goes wrong.
def places_pairwise(values: dict[str, float]) -> dict[str, int]:
    return {name: 1 + sum(1 for other in values.values() if other > v + TIE_TOLERANCE)
            for name, v in values.items()}


def board_ranks_pairwise(scores: dict[str, tuple[float, float]]) -> dict[str, int]:
    def ahead(a: tuple[float, float], b: tuple[float, float]) -> bool:
        if a[0] > b[0] + TIE_TOLERANCE:
            return True
        return abs(a[0] - b[0]) <= TIE_TOLERANCE and a[1] > b[1] + TIE_TOLERANCE

    return {name: 1 + sum(1 for other in scores.values() if ahead(other, mine))
            for name, mine in scores.items()}


def crowded_values(rng, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    """``n`` numbers drawn one of several ways, most of them dense in near-ties."""
    import math

    anchors = [0.0, -0.0, 0.1 + 0.2, 0.3, 1.0, 2.5, 7.25, -1.5, 1e6]
    how = rng.choice(["equal", "spread", "near", "chain", "ulps", "mixed"])
    if how == "equal":
        return [rng.choice(anchors)] * n
    if how == "spread":
        return [rng.uniform(-5.0, 10.0) for _ in range(n)]
    if how == "near":  # a few anchors, offsets below, at and above the tolerance
        factors = [0.0, 0.1, 0.49, 0.5, 0.51, 0.9, 0.999999, 1.0, 1.000001, 1.1, 1.5, 2.0, 3.0]
        return [rng.choice(anchors[:5]) + rng.choice((-1, 1)) * rng.choice(factors) * TIE_TOLERANCE
                for _ in range(n)]
    if how == "chain":  # each within the tolerance of the next: runs of tied totals overlap
        step = rng.choice([0.3, 0.5, 0.7, 0.99]) * TIE_TOLERANCE
        start = rng.choice(anchors[:5])
        return [start + rng.randrange(n) * step for _ in range(n)]
    if how == "ulps":  # floats a few ulps either side of anchor + tolerance
        out = []
        for _ in range(n):
            x = rng.choice(anchors[:7])
            if rng.random() < 0.5:
                x += TIE_TOLERANCE
                for _ in range(rng.randrange(-3, 4)):
                    x = math.nextafter(x, math.inf)
            out.append(x)
        return out
    return [v for _ in range(n) for v in crowded_values(rng, 1)]


@pytest.mark.parametrize("seed", range(300))
def test_ranks_equal_the_pairwise_definition(seed: int) -> None:
    import random

    rng = random.Random(seed)
    n = rng.choice([0, 1, 2, 3, 5, 10, 40, 120])
    names = [f"t{i}" for i in range(n)]
    totals = dict(zip(names, crowded_values(rng, n), strict=True))
    bases = crowded_values(rng, n)
    if seed % 3 == 0:  # a fresh board: every multiplier 0, every total 0
        totals = dict.fromkeys(names, 0.0)
    scores = {name: (totals[name], base) for name, base in zip(names, bases, strict=True)}
    assert competition_ranks(totals) == places_pairwise(totals)
    assert auc_places(totals) == places_pairwise(totals)
    assert board_ranks(scores) == board_ranks_pairwise(scores)


def test_long_overlapping_tie_runs_equal_the_pairwise_definition() -> None:
    """Hundreds of totals each within the tolerance of its neighbours, bases tied and not."""
    import random

    rng = random.Random(7)
    n = 600
    scores = {f"t{i}": (rng.randrange(200) * 0.4 * TIE_TOLERANCE,
                        rng.choice([0.0, 1.0, 1.0 + TIE_TOLERANCE / 2, 2.0, rng.random()]))
              for i in range(n)}
    ranks = board_ranks(scores)
    assert ranks == board_ranks_pairwise(scores)
    assert len(set(ranks.values())) > 20  # not all one tie: the bases do order them


@pytest.mark.parametrize(
    "values",
    [
        [float("nan"), 1.0, 1.0, 0.5],
        [float("inf"), float("inf"), 1.0, float("-inf")],
        [float("nan"), float("inf"), 0.0, -0.0],
    ],
)
def test_ranks_of_non_finite_numbers_equal_the_pairwise_definition(values: list[float]) -> None:
    totals = {f"t{i}": v for i, v in enumerate(values)}
    assert competition_ranks(totals) == places_pairwise(totals)
    for bases in (values, values[::-1], [0.0] * len(values)):
        scores = {f"t{i}": (v, b) for i, (v, b) in enumerate(zip(values, bases, strict=True))}
        assert board_ranks(scores) == board_ranks_pairwise(scores)
        swapped = {name: (b, v) for name, (v, b) in scores.items()}
        assert board_ranks(swapped) == board_ranks_pairwise(swapped)


@pytest.mark.parametrize("seed", range(8))
def test_auc_matches_sklearn(seed: int) -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from scoring.board import binary_roc_auc

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    # coarse scores force many ties, which must count half
    scores = np.round(rng.random(n), int(rng.integers(1, 4)))
    assert binary_roc_auc(list(y), list(scores)) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


@pytest.mark.parametrize(
    ("y", "scores", "expected"),
    [([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0), ([0, 0, 1, 1], [0.9, 0.2, 0.8, 0.7], 0.5),
     ([0, 1], [0.5, 0.5], 0.5), ([1, 0], [0.2, 0.8], 0.0)],
)
def test_auc_by_hand(y: list[int], scores: list[float], expected: float) -> None:
    from scoring.board import binary_roc_auc

    assert binary_roc_auc(y, scores) == pytest.approx(expected)
