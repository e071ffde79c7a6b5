"""Pure point functions: each component's scale, the AUC ranking, the lifetime multiplier, the total.

No I/O and no storage here: aggregates in, numbers out, so a table of hand-computed cases pins
every rule down.

Missing components. A component without data has points ``None`` (with a reason, kept by the
caller); it is never turned into a zero here. In the TOTAL it counts as 0 points, because a
target that stops answering must not gain by having fewer components graded; the scoreboard still
shows it as missing with its reason, so "0 because bad" and "0 because no data" stay apart.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping

SECONDS_PER_DAY = 86_400.0
# Totals closer than this are a tie: float sums of the same points in another order may differ
# in the last bits, and that must not decide a rank.
TIE_TOLERANCE = 1e-9


def clamp01(value: float) -> float:
    """``value`` clamped to [0, 1]."""
    return min(1.0, max(0.0, value))


def linear_points(raw: float, zero_at: float, full_at: float) -> float:
    """Points in [0, 1]: 0 at ``zero_at``, 1 at ``full_at``, linear between, clamped outside.

    Works in both directions (latency: zero_at 0.5 s > full_at 0 s; shares: 0.95 < 1.0).
    ``zero_at == full_at`` is refused by the rules loader; here it raises ZeroDivisionError.
    """
    return clamp01((raw - zero_at) / (full_at - zero_at))


def lifetime_multiplier(lifetime_s: float, lifetime_days: float) -> float:
    """``min(lifetime, lifetime_days) / lifetime_days`` in [0, 1]; a negative lifetime gives 0."""
    full_s = lifetime_days * SECONDS_PER_DAY
    return clamp01(max(0.0, lifetime_s) / full_s)


def auc_places(aucs: Mapping[str, float]) -> dict[str, int]:
    """Competition places by AUC, highest first; AUCs within TIE_TOLERANCE share the better place
    (1, 1, 3), so identical models share theirs. Empty input gives an empty dict."""
    return _places_by_value(aucs)


def auc_points_by_rank(aucs: Mapping[str, float], baseline_auc: float) -> dict[str, float]:
    """AUC points by place: the best target 1, the baseline 0, linear in place between.

    The baseline takes part in the ranking as the last place. With ``n`` targets strictly above
    it, place ``p`` (1 = best, ties share the better place) earns ``(n + 1 - p) / n``; a target
    at or below the baseline earns 0. So one target alone above the baseline earns 1, all targets
    equal and above it earn 1 each, and with three above it the places earn 1, 2/3, 1/3.
    Empty input gives an empty dict.
    """
    above = {name: auc for name, auc in aucs.items() if auc > baseline_auc}
    places = auc_places(above)
    n = len(above)
    return {name: ((n + 1 - places[name]) / n if name in above else 0.0) for name in aucs}


def auc_points_by_value(aucs: Mapping[str, float], baseline_auc: float) -> dict[str, float]:
    """AUC points by value: 0 at or below the baseline, 1 at the best target, linear between.

    When no target beats the baseline every target earns 0. Empty input gives an empty dict.
    """
    best = max(aucs.values(), default=baseline_auc)
    if best <= baseline_auc:
        return {name: 0.0 for name in aucs}
    return {name: linear_points(auc, baseline_auc, best) for name, auc in aucs.items()}


def weighted_sum(points: Mapping[str, float | None], weights: Mapping[str, float]) -> float:
    """Sum of ``weight × points`` over ``weights``' components; a missing (None) component counts 0."""
    return sum(weights[name] * (points.get(name) or 0.0) for name in weights)


def total_points(
    points: Mapping[str, float | None], weights: Mapping[str, float], multiplier: float
) -> float:
    """The grade: the weighted sum of the components times the lifetime multiplier."""
    return weighted_sum(points, weights) * multiplier


def competition_ranks(totals: Mapping[str, float]) -> dict[str, int]:
    """Rank 1 for the highest total; totals within TIE_TOLERANCE share the better rank (1, 1, 3)."""
    return _places_by_value(totals)


def _places_by_value(values: Mapping[str, float]) -> dict[str, int]:
    """``1 + how many others exceed mine by more than TIE_TOLERANCE``, for each name.

    Counted by bisection on the sorted values (a board of 3000 targets took 9 M comparisons
    pairwise). The tolerance makes "ahead" no strict order, hence counts, not a sort's positions.
    A NaN is ahead of nobody and nobody is ahead of it, as in the pairwise comparison.
    """
    ordered = sorted(v for v in values.values() if v == v)
    n = len(ordered)
    return {name: 1 + (n - bisect_right(ordered, v + TIE_TOLERANCE) if v == v else 0)
            for name, v in values.items()}


def _board_ahead(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """``a`` ranks above ``b``: its total by more than TIE_TOLERANCE, or a tied total and its base."""
    if a[0] > b[0] + TIE_TOLERANCE:
        return True
    return abs(a[0] - b[0]) <= TIE_TOLERANCE and a[1] > b[1] + TIE_TOLERANCE


def board_ranks(scores: Mapping[str, tuple[float, float]]) -> dict[str, int]:
    """Ranks by ``(total, base)``: the total first, the base score (before the multiplier) breaks
    a tie in it; only targets tied in both (within TIE_TOLERANCE) share a rank (1, 1, 3).

    On a fresh board every multiplier is 0, so every total is 0: the base score still orders the
    targets by what they measured. Empty input gives an empty dict.

    A rank is ``1 + how many others are _board_ahead``. Counted pairwise, 3000 targets took 4 s;
    here the others ahead by their total are found by bisection, and the others tied in total
    are looked up only among the few distinct totals near mine, each with its bases sorted.
    Non-finite numbers (never a real score) are counted pairwise, by the definition itself.
    """
    if not all(math.isfinite(x) for pair in scores.values() for x in pair):
        return {name: 1 + sum(1 for other in scores.values() if _board_ahead(other, mine))
                for name, mine in scores.items()}
    totals = sorted(total for total, _ in scores.values())
    bases_by_total: dict[float, list[float]] = {}
    for total, base in scores.values():
        bases_by_total.setdefault(total, []).append(base)
    for bases in bases_by_total.values():
        bases.sort()
    distinct = sorted(bases_by_total)
    ranks = {}
    for name, (total, base) in scores.items():
        ahead = len(totals) - bisect_right(totals, total + TIE_TOLERANCE)
        # Totals tied with mine, by _board_ahead's own float test (a window twice as wide is
        # searched, so rounding in t + TIE_TOLERANCE cannot hide one).
        near = distinct[bisect_left(distinct, total - 2 * TIE_TOLERANCE):
                        bisect_right(distinct, total + 2 * TIE_TOLERANCE)]
        for other in near:
            if abs(other - total) <= TIE_TOLERANCE and not other > total + TIE_TOLERANCE:
                bases = bases_by_total[other]
                ahead += len(bases) - bisect_right(bases, base + TIE_TOLERANCE)
        ranks[name] = 1 + ahead
    return ranks
