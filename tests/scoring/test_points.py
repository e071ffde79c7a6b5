"""Hand-computed cases for every scale, the AUC ranking, the lifetime multiplier and the total."""

from __future__ import annotations

import pytest

from scoring.points import (
    SECONDS_PER_DAY,
    auc_points_by_rank,
    auc_points_by_value,
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
