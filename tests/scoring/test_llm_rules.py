"""The rules' ``[llm]`` table: defaults, a partial file, round trips, and every bad key named."""

from __future__ import annotations

import pytest

from scoring.rules import (
    DEFAULT_RULES,
    LLM_COMPONENTS,
    Rules,
    RulesError,
    parse_rules,
    rules_from_dict,
    rules_to_dict,
)


def test_llm_defaults() -> None:
    r = DEFAULT_RULES
    assert (r.llm_ttft_zero_at_s, r.llm_ttft_full_at_s, r.llm_ttft_statistic) == (2.0, 0.2, "p95")
    # uptime and 200-rate start at the classifiers' numbers
    assert (r.llm_uptime_zero_at, r.llm_uptime_full_at) == (r.uptime_zero_at, r.uptime_full_at)
    assert (r.llm_rate200_zero_at, r.llm_rate200_full_at) == (r.rate200_zero_at, r.rate200_full_at)
    assert {r.llm_weight(c) for c in LLM_COMPONENTS} == {1.0}
    assert r.llm_scale("ttft") == (2.0, 0.2) and r.llm_scale("uptime") == (0.95, 1.0)
    assert rules_to_dict(r)["llm"] == {
        "ttft_zero_at_s": 2.0, "ttft_full_at_s": 0.2, "ttft_statistic": "p95", "ttft_weight": 1.0,
        "uptime_zero_at": 0.95, "uptime_full_at": 1.0, "uptime_weight": 1.0,
        "rate200_zero_at": 0.95, "rate200_full_at": 1.0, "rate200_weight": 1.0,
    }


def test_llm_partial_file_and_round_trip() -> None:
    rules = parse_rules(
        '[llm]\nttft_zero_at_s = 3\nttft_full_at_s = 0.5\nttft_statistic = "mean"\nttft_weight = 2\n'
        "uptime_zero_at = 0.9\nrate200_full_at = 0.99\nrate200_weight = 0.5\n"
        "[latency]\nzero_at_s = 1\n"
    )
    assert rules == Rules(llm_ttft_zero_at_s=3.0, llm_ttft_full_at_s=0.5, llm_ttft_statistic="mean",
                          llm_ttft_weight=2.0, llm_uptime_zero_at=0.9, llm_rate200_full_at=0.99,
                          llm_rate200_weight=0.5, latency_zero_at_s=1.0)
    # the classifiers' rules are not touched by [llm], nor [llm] by theirs
    assert rules.uptime_zero_at == 0.95 and rules.latency_statistic == "mean"
    assert rules_from_dict(rules_to_dict(rules)) == rules
    assert parse_rules("[llm]\n") == DEFAULT_RULES


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[llm]\nttft_zero_at_s = 'slow'\n", "llm.ttft_zero_at_s"),
        ("[llm]\nttft_zero_at_s = -2\n", "llm.ttft_zero_at_s"),
        ("[llm]\nttft_full_at_s = true\n", "llm.ttft_full_at_s"),
        ("[llm]\nttft_full_at_s = 2.0\n", "llm.ttft_full_at_s"),  # equal to the default zero
        ("[llm]\nttft_statistic = 'p99'\n", "llm.ttft_statistic"),
        ("[llm]\nttft_weight = -1\n", "llm.ttft_weight"),
        ("[llm]\nuptime_zero_at = 1.5\n", "llm.uptime_zero_at"),
        ("[llm]\nuptime_full_at = 0.95\n", "llm.uptime_full_at"),  # equal ends
        ("[llm]\nuptime_weight = 'one'\n", "llm.uptime_weight"),
        ("[llm]\nrate200_zero_at = -0.1\n", "llm.rate200_zero_at"),
        ("[llm]\nrate200_full_at = nan\n", "llm.rate200_full_at"),
        ("[llm]\nrate200_weight = -3\n", "llm.rate200_weight"),
        ("[llm]\nauc_weight = 1\n", "llm.auc_weight"),  # no AUC for an LLM
        ("[llm]\nttft_zero_at = 2\n", "llm.ttft_zero_at"),  # the unit suffix is _s
        ("[llm]\nlatency_zero_at_s = 2\n", "llm.latency_zero_at_s"),
        ("[llm.ttft]\nzero_at_s = 2\n", "llm.ttft"),  # the keys are flat under [llm]
        ("llm = 1\n", "llm"),
        ("ttft_zero_at_s = 2\n", "[llm]"),  # a flat key: the hint names its table
        ("llm_ttft_weight = 2\n", "[llm]"),
    ],
)
def test_bad_llm_rules_name_the_key(text: str, named: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    assert named in str(info.value)
