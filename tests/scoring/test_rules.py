"""Rules from TOML: the design's defaults, round trips, and malformed files naming the key."""

from __future__ import annotations

import dataclasses

import pytest

from scoring.rules import DEFAULT_RULES, Rules, RulesError, parse_rules, rules_from_dict, rules_to_dict


def test_defaults_are_the_design() -> None:
    r = DEFAULT_RULES
    assert (r.latency_zero_at_s, r.latency_full_at_s, r.latency_statistic) == (0.5, 0.0, "mean")
    assert (r.uptime_zero_at, r.uptime_full_at) == (0.95, 1.0)
    assert (r.rate200_zero_at, r.rate200_full_at) == (0.95, 1.0)
    assert r.auc_mode == "rank" and r.lifetime_days == 7.0 and r.window_days is None
    assert r.auc_min_coverage == 0.9 and r.auc_name_pattern is None
    assert {r.weight(c) for c in ("latency", "uptime", "rate200", "auc")} == {1.0}
    assert parse_rules("") == DEFAULT_RULES
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.lifetime_days = 3  # type: ignore[misc]


def test_partial_file_and_round_trip() -> None:
    rules = parse_rules(
        '[latency]\nstatistic = "p95"\nzero_at_s = 1\n[auc]\nmode = "value"\nweight = 2\n'
        "min_coverage = 0.5\nname_pattern = '^T-[0-9]+$'\n[window]\ndays = 3.5\n"
    )
    assert rules == Rules(latency_statistic="p95", latency_zero_at_s=1.0, auc_mode="value",
                          auc_weight=2.0, window_days=3.5, auc_min_coverage=0.5,
                          auc_name_pattern="^T-[0-9]+$")
    assert rules_from_dict(rules_to_dict(rules)) == rules
    assert rules_from_dict(rules_to_dict(DEFAULT_RULES)) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[latency]\nzero_at_s = 'fast'\n", "latency.zero_at_s"),
        ("[latency]\nstatistic = 'p99'\n", "latency.statistic"),
        ("[latency]\nzero_at = 0.5\n", "latency.zero_at"),  # unknown key (the unit suffix is _s)
        ("[latency]\nfull_at_s = 0.5\n", "latency.full_at_s"),  # equal ends
        ("[latency]\nzero_at_s = -1\n", "latency.zero_at_s"),
        ("[uptime]\nzero_at = 1.5\n", "uptime.zero_at"),
        ("[uptime]\nfull_at = true\n", "uptime.full_at"),
        ("[rate200]\nweight = -1\n", "rate200.weight"),
        ("[auc]\nmode = 'median'\n", "auc.mode"),
        ("[lifetime]\ndays = 0\n", "lifetime.days"),
        ("[window]\ndays = 'all'\n", "window.days"),
        ("[latncy]\nzero_at_s = 0.5\n", "latncy"),
        ("uptime = 0.9\n", "uptime"),
        ("[uptime\nzero_at = 0.9\n", "line 1"),
    ],
)
def test_malformed_rules_name_the_key(text: str, named: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    assert named in str(info.value)
