"""Grades a team can trust (issues 12 and 13), on SQLite and Postgres: latency over valid answers
only, AUC on a fair footing (coverage, latest valid answer, shared places), the course's name
rule, and the base score that breaks ties in the total."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import scoring.rules
from scoring.board import (
    NAME_RULE_REASON,
    NO_VALID_ANSWER_TO_TIME,
    ComponentScore,
    Scoreboard,
    compute_scoreboard,
    explain_target,
)
from scoring.rules import DEFAULT_RULES, Rules, RulesError, parse_rules
from storage.engine import session_scope
from storage.evalset import replace_eval_set
from storage.models import Target
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target
from tests.scoring.data import AT, EVAL, build_tie_scenario, healths, predicts, probe, prober_ran

REPO = Path(__file__).resolve().parents[2]
COURSE_PATTERN = r"^PROD_ML_FALL_25\|[A-ZА-ЯЁ]+_[A-ZА-ЯЁ]+$"
COURSE_RULES_TOML = f"[auc]\nname_pattern = '{COURSE_PATTERN}'\n"
BASELINE = 0.5
# Ten samples, alternating classes; one model's probabilities, imperfect on purpose so that
# different subsets of the samples give different AUCs.
LABELS = {f"e{i}": i % 2 for i in range(10)}
MODEL = {"e0": 0.1, "e1": 0.9, "e2": 0.45, "e3": 0.4, "e4": 0.2, "e5": 0.8, "e6": 0.6, "e7": 0.7,
         "e8": 0.15, "e9": 0.65}
WEAK = {"e0": 0.5, "e1": 0.6, "e2": 0.55, "e3": 0.4, "e4": 0.3, "e5": 0.45, "e6": 0.2, "e7": 0.5,
        "e8": 0.6, "e9": 0.65}


def board_at(url: str, at: datetime, rules: Rules = DEFAULT_RULES) -> Scoreboard:
    with session_scope(url) as s:
        return compute_scoreboard(s, at=at, rules=rules, baseline_auc=BASELINE)


def register(url: str, names: list[str], age: timedelta = timedelta(days=3)) -> dict[str, int]:
    with session_scope(url) as s:
        return {n: add_target(s, name=n, base_url="http://127.0.0.1:9", registered_at=AT - age).id
                for n in names}


def register_raw(url: str, names: list[str], age: timedelta = timedelta(days=3)) -> dict[str, int]:
    """Rows written straight through the model: which names registration accepts is the registry's
    rule (and its tests); grading must judge whatever name a target has."""
    with session_scope(url) as s:
        rows = [Target(name=n, base_url="http://127.0.0.1:9", registered_at=AT - age) for n in names]
        s.add_all(rows)
        s.flush()
        return {r.name: r.id for r in rows}


def answers(target_id: int, start: datetime, model: dict[str, float], samples: list[str]) -> list[ProbeRow]:
    return predicts(target_id, start, [(k, model[k]) for k in samples], latency_ms=100.0)


# --- latency over answers that count ----------------------------------------------------------


def test_latency_counts_only_ok_predict_probes(db_url: str) -> None:
    with session_scope(db_url) as s:
        replace_eval_set(s, [(k, f"text {k}", v) for k, v in EVAL.items()])
        prober_ran(s, AT - timedelta(days=3), AT)
    ids = register(db_url, ["wrong-path", "mixed", "health-only", "silent"])
    start = AT - timedelta(hours=30, minutes=-7)  # not hour-aligned: raw edge rows and rollups
    rows: list[ProbeRow] = []
    # A base URL ending in /predict: every probe answered 404 in 5 ms (issue 12).
    for i in range(120):
        at = start + timedelta(minutes=10 * i)
        rows.append(probe(ids["wrong-path"], "health", at, outcome="http_error", status=404, latency_ms=5.0))
        rows.append(probe(ids["wrong-path"], "predict", at + timedelta(seconds=5), outcome="http_error",
                          status=404, latency_ms=5.0, sample_id=f"s{1 + i % 4}"))
    # 100 ms answers, and 5 ms 404s: ten hours all ok, ten hours mixed, ten hours all 404.
    for i in range(180):
        at = start + timedelta(minutes=10 * i)
        ok = i < 60 or (i < 120 and i % 2 == 0)
        rows.append(probe(ids["mixed"], "predict", at, outcome="ok" if ok else "http_error",
                          status=200 if ok else 404, latency_ms=100.0 if ok else 5.0,
                          sample_id=f"s{1 + i % 4}", probability=0.1 + 0.2 * (i % 4) if ok else None))
    rows += healths(ids["health-only"], start, 30)
    with session_scope(db_url) as s:
        record_probes(s, rows)

    for rules in (DEFAULT_RULES, Rules(latency_statistic="p95")):
        board = board_at(db_url, AT, rules)
        wrong = board.target("wrong-path")
        assert wrong.components["latency"] == ComponentScore(None, 0.0, NO_VALID_ANSWER_TO_TIME)
        assert NO_VALID_ANSWER_TO_TIME == "no valid answer to time"
        assert wrong.components["rate200"].points == 0.0 and wrong.components["uptime"].points == 0.0
        assert wrong.components["auc"] == ComponentScore(None, 0.0, "answered 0 % of the evaluation set")
        assert board.target("health-only").components["latency"] == ComponentScore(
            None, 0.0, NO_VALID_ANSWER_TO_TIME)
        mixed = board.target("mixed").components["latency"]
        # the 404s' 5 ms would pull the mean to 0.0715 s and the p95 nowhere near; only ok answers count
        assert mixed.raw == pytest.approx(0.1) and mixed.points == pytest.approx(0.8)
        assert "over 90 ok predict probes (90 without a valid answer not timed)" in mixed.reason
        silent = board.target("silent").components
        assert silent["latency"] == ComponentScore(None, None, "no predict probes in the window")
        assert silent["auc"].points is None
        doc = {t["name"]: t for t in board.to_dict()["targets"]}
        assert doc["wrong-path"]["components"]["latency"] == {
            "raw": None, "points": 0.0, "reason": "no valid answer to time"}
        assert doc["silent"]["components"]["latency"]["points"] is None
        why = "\n".join(explain_target(board, "wrong-path"))
        assert "latency: n/a → 0.0000 points × weight 1; no valid answer to time" in why


# --- AUC on a fair footing ----------------------------------------------------------------------


def test_three_copies_of_one_model(db_url: str) -> None:
    """Copies answering different parts of the set rank as equals once they covered it."""
    with session_scope(db_url) as s:
        replace_eval_set(s, [(k, f"text {k}", v) for k, v in LABELS.items()])
    copies = ["copy-1", "copy-2", "copy-3"]
    ids = register(db_url, [*copies, "weak"])
    samples = list(LABELS)
    partial_at = AT - timedelta(hours=10)
    rows: list[ProbeRow] = []
    # By partial_at each copy answered a different 60 % of the set (each sample twice: the early,
    # wrong answer is superseded, never counted); weak answered all of it.
    first = AT - timedelta(hours=20)
    for n, name in enumerate(copies):
        rows += answers(ids[name], AT - timedelta(days=2), {k: 1.0 - v for k, v in MODEL.items()},
                        samples[2 * n : 2 * n + 6])
        rows += answers(ids[name], first, MODEL, samples[2 * n : 2 * n + 6])
    rows += answers(ids["weak"], first, WEAK, samples)
    # Later every copy answers the rest, then fails once on e1: a failed answer replaces nothing.
    later = AT - timedelta(hours=5)
    for n, name in enumerate(copies):
        rows += answers(ids[name], later, MODEL, samples[: 2 * n] + samples[2 * n + 6 :])
        rows.append(probe(ids[name], "predict", later + timedelta(hours=1), outcome="http_error",
                          status=500, sample_id="e1"))
    with session_scope(db_url) as s:
        record_probes(s, rows)

    partial = board_at(db_url, partial_at)
    raws = {partial.target(n).components["auc"].raw for n in copies}
    assert len(raws) == 3  # the raw AUCs differ: the subsets differ, not the skill
    for name in copies:
        t = partial.target(name)
        assert t.components["auc"].points == 0.0
        assert t.components["auc"].reason == "answered 60 % of the evaluation set"
        assert t.auc_coverage == pytest.approx(0.6) and t.auc_place is None and t.auc_excluded
    weak = partial.target("weak")
    # the copies take no place, so the only ranked target is first of one
    assert (weak.auc_place, weak.auc_above, weak.components["auc"].points) == (1, 1, 1.0)
    assert len({partial.target(n).total for n in copies}) == 1
    doc = {t["name"]: t for t in partial.to_dict()["targets"]}
    assert doc["copy-2"]["components"]["auc"]["coverage"] == 0.6

    full = board_at(db_url, AT)
    graded = [full.target(n) for n in copies]
    assert len({t.components["auc"].raw for t in graded}) == 1  # identical, to the last bit
    assert {(t.auc_place, t.components["auc"].points, t.auc_coverage) for t in graded} == {(1, 1.0, 1.0)}
    assert len({(t.rank, t.total, t.base) for t in graded}) == 1  # one shared rank
    assert full.target("weak").auc_place == 4
    assert full.target("weak").components["auc"].points == pytest.approx(0.25)  # (4 + 1 - 4) / 4
    # each copy's AUC is the model's on the whole set, from the latest valid answer per sample
    from scoring.board import binary_roc_auc
    assert graded[0].components["auc"].raw == binary_roc_auc(
        [LABELS[k] for k in samples], [MODEL[k] for k in samples])

    # a lower bar: at 60 % the partial copies take places again, by their (different) AUCs
    lowered = board_at(db_url, partial_at, Rules(auc_min_coverage=0.6))
    assert all(lowered.target(n).auc_place is not None for n in copies)
    assert parse_rules("[auc]\nmin_coverage = 0.6\n") == Rules(auc_min_coverage=0.6)


@pytest.mark.parametrize(
    ("used", "n", "text"),
    [(0, 10, "answered 0 % of the evaluation set"), (899, 1000, "answered 89 % of the evaluation set"),
     (29, 100, "answered 29 % of the evaluation set"), (2, 3, "answered 66 % of the evaluation set")],
)
def test_coverage_reason_is_an_integer_percent_rounded_down(used: int, n: int, text: str) -> None:
    from scoring.board import coverage_reason

    assert coverage_reason(used, n) == text


# --- a course naming rule as data ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "follows"),
    [
        ("PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ", True),
        ("PROD_ML_FALL_25|IVANOV_PETROV", True),
        ("PROD_ML_FALL_25|ЁЛКИН_SMITH", True),
        ("PROD_ML_FALL_25|Иванов_Петров", False),  # capitals only
        ("PROD_ML_FALL_25|IVANOV", False),  # two surnames
        ("PROD_ML_FALL_25|IVANOV_PETROV_SIDOROV", False),
        ("PROD_ML_FALL_25_IVANOV_PETROV", False),  # the | is literal
        ("PROD_ML_FALL_24|IVANOV_PETROV", False),
        ("PROD_ML_FALL_25|IVANOV_PETROV\n", False),
        ("team PROD_ML_FALL_25|IVANOV_PETROV", False),
    ],
)
def test_course_pattern(name: str, follows: bool) -> None:
    assert (re.fullmatch(COURSE_PATTERN, name) is not None) is follows
    rules = parse_rules(COURSE_RULES_TOML)
    assert rules.auc_name_pattern == COURSE_PATTERN
    assert rules.name_follows_pattern(name) is follows
    assert DEFAULT_RULES.name_follows_pattern(name)  # no pattern: every name follows
    # the examples the docs give are this pattern, in TOML literal-string form
    example = f"name_pattern = '{COURSE_PATTERN}'"
    assert example in (scoring.rules.__doc__ or "")
    assert example in (REPO / "docs" / "DESIGN.md").read_text(encoding="utf-8")


def test_pattern_typed_with_decomposed_letters_matches() -> None:
    decomposed = unicodedata.normalize("NFD", COURSE_PATTERN)
    assert decomposed != COURSE_PATTERN
    rules = parse_rules(f"[auc]\nname_pattern = '{decomposed}'\n")
    assert rules.name_follows_pattern("PROD_ML_FALL_25|ЁЛКИН_ПЁТР")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[auc]\nname_pattern = '^PROD_ML_FALL_25|[A-Z'\n", "auc.name_pattern: not a valid regular"),
        ("[auc]\nname_pattern = '(a'\n", "auc.name_pattern: not a valid regular expression"),
        ("[auc]\nname_pattern = ''\n", "auc.name_pattern: must be a non-empty regular expression"),
        ("[auc]\nname_pattern = 25\n", "auc.name_pattern"),
        ("[auc]\nmin_coverage = 1.2\n", "auc.min_coverage: must be between 0 and 1"),
        ("[auc]\nmin_coverage = 'most'\n", "auc.min_coverage"),
        ("name_pattern = 'x'\n", "did you mean name_pattern = ... under [auc]?"),
        ("auc_min_coverage = 0.8\n", "did you mean min_coverage = ... under [auc]?"),
    ],
)
def test_bad_auc_rules_are_one_clear_line(text: str, named: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    message = str(info.value)
    assert named in message and "\n" not in message and "Traceback" not in message


def test_name_rule_on_the_board(db_url: str) -> None:
    with session_scope(db_url) as s:
        replace_eval_set(s, [(k, f"text {k}", v) for k, v in LABELS.items()])
    good, other, off = "PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ", "PROD_ML_FALL_25|SMITH_JONES", "best-team"
    ids = register_raw(db_url, [good, other, off])
    models = {
        off: {k: float(v) for k, v in LABELS.items()},  # perfect: the best AUC by far
        good: MODEL,
        other: WEAK,
    }
    rows: list[ProbeRow] = []
    for name, model in models.items():
        rows += answers(ids[name], AT - timedelta(hours=12), model, list(LABELS))
    with session_scope(db_url) as s:
        record_probes(s, rows)

    free = board_at(db_url, AT)
    course = board_at(db_url, AT, parse_rules(COURSE_RULES_TOML))
    # without the rule the off-pattern team is first and pushes the others down
    assert [free.target(n).auc_place for n in (off, good, other)] == [1, 2, 3]
    assert [free.target(n).components["auc"].points for n in (off, good, other)] == pytest.approx(
        [1.0, 2 / 3, 1 / 3])
    # with it: 0 points and no place for it, its raw AUC still shown; the others rank as if it
    # were not there
    t = course.target(off)
    assert t.components["auc"] == ComponentScore(1.0, 0.0, NAME_RULE_REASON)
    assert NAME_RULE_REASON == "name does not follow the course pattern"
    assert t.auc_place is None and t.auc_coverage == 1.0
    assert [course.target(n).auc_place for n in (good, other)] == [1, 2]
    assert [course.target(n).auc_above for n in (good, other)] == [2, 2]
    assert [course.target(n).components["auc"].points for n in (good, other)] == [1.0, 0.5]
    # the other components are unaffected
    for name in (off, good, other):
        for c in ("latency", "uptime", "rate200"):
            assert course.target(name).components[c] == free.target(name).components[c]
    assert [x.name for x in course.targets] == [good, other, off]
    doc = {x["name"]: x for x in course.to_dict()["targets"]}
    assert doc[off]["components"]["auc"] == {"raw": 1.0, "points": 0.0, "reason": NAME_RULE_REASON,
                                            "coverage": 1.0}
    assert course.to_dict()["rules"]["auc"]["name_pattern"] == COURSE_PATTERN
    why = "\n".join(explain_target(course, off))
    assert NAME_RULE_REASON in why and "no place in the AUC ranking" in why


# --- ties in the total ---------------------------------------------------------------------------


def test_ties_in_total_are_broken_by_the_base_score(db_url: str) -> None:
    with session_scope(db_url) as s:
        build_tie_scenario(s)
    board = board_at(db_url, AT)
    got = [(t.name, t.rank, t.base, t.total) for t in board.targets]
    assert got == [
        ("steady", 1, 2.0, 0.5),
        ("twin-a", 2, 1.0, 0.5),
        ("twin-b", 2, 1.0, 0.5),
        ("broken", 4, 0.0, 0.0),
    ]
    assert board.target("broken").components["latency"].reason == NO_VALID_ANSWER_TO_TIME
    doc = board.to_dict()["targets"]
    assert [(t["name"], t["rank"], t["base"], t["total"]) for t in doc] == got
    assert "base score (before the multiplier) = 2.0000" in "\n".join(explain_target(board, "steady"))
