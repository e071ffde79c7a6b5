"""The model-change detector on answer streams shaped like the prober's: each sample in turn."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from drift.model_changes import ModelChangeRules, comparisons, detect_model_changes
from storage.drift import PredictAnswer as Answer

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)
RULES = ModelChangeRules(min_samples=20, share=0.5, tolerance=0.01)
N_SAMPLES = 30
LABELS = {f"s{i:02d}": i % 2 for i in range(N_SAMPLES)}

Model = Callable[[str], float]


def good(sample: str) -> float:
    """Separates the classes perfectly; probabilities spread over (0, 1)."""
    i = int(sample[1:])
    return (0.55 if LABELS[sample] else 0.05) + 0.4 * i / N_SAMPLES


def inverted(sample: str) -> float:
    return 1.0 - good(sample)


def stream(models: list[tuple[int, Model]], *, n_samples: int = N_SAMPLES, noise: float = 0.0,
           seed: int = 0) -> list[Answer]:
    """Answers of one target: for each (count, model), ``count`` probes cycling through the samples."""
    rng = random.Random(seed)
    answers: list[Answer] = []
    slot = 0
    for count, model in models:
        for _ in range(count):
            sample = f"s{slot % n_samples:02d}"
            p = model(sample) + (rng.uniform(-noise, noise) if noise else 0.0)
            answers.append(Answer(1, sample, p, T0 + slot * STEP))
            slot += 1
    return answers


def test_nothing_in_nothing_out() -> None:
    assert detect_model_changes([], RULES) == []


def test_comparisons_pair_each_answer_with_the_previous_one_of_its_sample() -> None:
    answers = [Answer(1, "a", 0.1, T0), Answer(1, "b", 0.2, T0 + STEP),
               Answer(1, "a", 0.4, T0 + 2 * STEP), Answer(1, "a", 0.5, T0 + 3 * STEP)]
    pairs = [(c.sample_id, c.p_old, c.p_new, c.at_new) for c in comparisons(answers)]
    assert pairs == [("a", 0.1, 0.4, T0 + 2 * STEP), ("a", 0.4, 0.5, T0 + 3 * STEP)]


@pytest.mark.parametrize(
    ("case", "answers"),
    [
        ("fixed model", stream([(300, good)])),
        ("noise of ±0.001", stream([(300, good)], noise=0.001)),
        ("noise just under the tolerance", stream([(300, good)], noise=0.0049)),
        ("only the first cycle: nothing re-asked", stream([(N_SAMPLES, good)])),
        ("a third of the samples changed",
         stream([(90, good), (300, lambda s: good(s) + 0.2 * (int(s[1:]) % 3 == 0))])),
        ("switched, but fewer re-asks than MIN_SAMPLES so far", stream([(60, good), (19, inverted)])),
        ("evaluation set smaller than MIN_SAMPLES", stream([(50, good), (200, inverted)], n_samples=10)),
    ],
)
def test_no_model_change(case: str, answers: list[Answer]) -> None:
    assert detect_model_changes(answers, RULES) == [], case


def test_one_switch_is_one_change_at_the_first_changed_answer() -> None:
    answers = stream([(90, good), (120, inverted)])
    (change,) = detect_model_changes(answers, RULES)
    assert change.at == answers[90].started_at
    # every sample's first re-ask after the switch counts, not only the first MIN_SAMPLES
    assert change.samples == N_SAMPLES
    assert change.share_changed == 1.0
    expected = sum(abs(inverted(s) - good(s)) for s in LABELS) / N_SAMPLES
    assert change.mean_abs_delta == pytest.approx(expected)
    assert set(change.before) == set(change.after) == set(LABELS)
    assert change.before_from == answers[60].started_at and change.after_to == answers[119].started_at
    assert change.aucs(LABELS) == (1.0, 0.0)


def test_a_to_b_to_a_gives_two_changes() -> None:
    answers = stream([(60, good), (90, inverted), (90, good)])
    changes = detect_model_changes(answers, RULES)
    assert [c.at for c in changes] == [answers[60].started_at, answers[150].started_at]
    assert [c.aucs(LABELS) for c in changes] == [(1.0, 0.0), (0.0, 1.0)]


def test_changes_in_consecutive_cycles_are_each_found() -> None:
    shifted: Model = lambda s: min(good(s) + 0.05, 1.0)  # noqa: E731
    answers = stream([(30, good), (30, inverted), (30, shifted), (30, good), (30, good)])
    assert [c.at for c in detect_model_changes(answers, RULES)] == [
        answers[30].started_at, answers[60].started_at, answers[90].started_at
    ]


def test_a_flaky_sample_before_a_real_switch_does_not_move_its_time() -> None:
    answers = stream([(100, good), (60, inverted)])
    flaky = answers[70]
    answers[70] = flaky._replace(probability=flaky.probability + 0.3)  # one odd answer 30 probes before
    changes = detect_model_changes(answers, RULES)
    assert [c.at for c in changes] == [answers[100].started_at]


def test_a_small_partial_shift_over_the_tolerance_is_a_change() -> None:
    nudged: Model = lambda s: good(s) + 0.02  # noqa: E731
    (change,) = detect_model_changes(stream([(60, good), (60, nudged)]), RULES)
    assert change.mean_abs_delta == pytest.approx(0.02)


def test_share_and_min_samples_come_from_the_rules() -> None:
    half: Model = lambda s: good(s) + 0.2 * (int(s[1:]) % 2)  # noqa: E731
    answers = stream([(60, good), (60, half)])
    assert detect_model_changes(answers, ModelChangeRules(20, 0.6, 0.01)) == []
    (change,) = detect_model_changes(answers, ModelChangeRules(20, 0.4, 0.01))
    assert change.share_changed == pytest.approx(0.5)
    assert detect_model_changes(stream([(50, good), (200, inverted)], n_samples=10),
                                ModelChangeRules(8, 0.5, 0.01)) != []


def test_auc_needs_enough_samples_and_both_classes() -> None:
    small = {f"s{i:02d}": i % 2 for i in range(10)}
    (change,) = detect_model_changes(stream([(20, good), (20, inverted)], n_samples=10),
                                     ModelChangeRules(8, 0.5, 0.01))
    assert change.aucs({k: v for k, v in small.items() if k != "s00"}) == (None, None)  # 9 labelled
    assert change.aucs({k: 1 for k in small}) == (None, None)  # one class
    assert change.aucs(small) == (1.0, 0.0)
