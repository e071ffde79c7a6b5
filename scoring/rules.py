r"""The grading rules as data: a frozen structure, read from TOML, with the design's defaults.

Every number a grade depends on lives here, so a grade can be recomputed by hand from the rules
and the inputs that ``explain_target`` lists. A rules file may give any subset of keys; the rest
keep their defaults. A key that is unknown, of the wrong type or out of range stops the load with a
``RulesError`` naming it, because a typo silently falling back to a default would change grades
without anyone noticing.

The TOML layout (also what ``rules_to_dict`` returns)::

    [latency]            # predict probes' latency, seconds
    zero_at_s = 0.5      # 0 points at or above
    full_at_s = 0.0      # full points at or below
    statistic = "mean"   # mean | p50 | p95
    weight = 1.0

    [uptime]             # share of health probes answered ok, 0..1
    zero_at = 0.95
    full_at = 1.0
    weight = 1.0

    [rate200]            # share of predict probes answered 200, 0..1
    zero_at = 0.95
    full_at = 1.0
    weight = 1.0

    [auc]                # 0 at or below the baseline, full at the best target
    mode = "rank"        # rank | value
    weight = 1.0
    min_coverage = 0.9   # share of the evaluation set answered validly, 0..1; below: 0 points
    # name_pattern: a regular expression every graded name must match in full; absent = no rule.
    # The course format PROD_ML_FALL_25|LASTNAME1_LASTNAME2, Latin or Cyrillic capitals (a TOML
    # literal string, so the backslash stays):
    # name_pattern = '^PROD_ML_FALL_25\|[A-ZА-ЯЁ]+_[A-ZА-ЯЁ]+$'

    [lifetime]
    days = 7.0           # multiplier = min(lifetime, days) / days

    [window]
    days = 3.0           # optional: grade only the last N days; absent = from registration

    [llm]                # openai-chat targets, graded on their own board; no AUC
    ttft_zero_at_s = 2.0     # time to first token, seconds: 0 points at or above
    ttft_full_at_s = 0.2     # full points at or below
    ttft_statistic = "p95"   # mean | p50 | p95
    ttft_weight = 1.0
    uptime_zero_at = 0.95    # share of health probes answered ok, 0..1
    uptime_full_at = 1.0
    uptime_weight = 1.0
    rate200_zero_at = 0.95   # share of chat probes answered 200, 0..1
    rate200_full_at = 1.0
    rate200_weight = 1.0

``[lifetime]`` and ``[window]`` apply to both kinds of target. The ``[llm]`` keys are the Python
fields ``llm_<key>`` (``llm_ttft_zero_at_s``, ...).

``auc.min_coverage`` and ``auc.name_pattern`` are the Python fields ``auc_min_coverage`` and
``auc_name_pattern``; a flat ``auc_min_coverage = ...`` or ``name_pattern = ...`` at the top of
the file is refused with a hint naming the table it belongs in.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import ClfwatchError

COMPONENTS = ("latency", "uptime", "rate200", "auc")
# The components of an openai-chat target: time to first token instead of latency, no AUC.
LLM_COMPONENTS = ("ttft", "uptime", "rate200")
LATENCY_STATISTICS = ("mean", "p50", "p95")
AUC_MODES = ("rank", "value")

DEFAULT_LATENCY_ZERO_AT_S = 0.5
DEFAULT_LATENCY_FULL_AT_S = 0.0
DEFAULT_LATENCY_STATISTIC = "mean"
DEFAULT_SHARE_ZERO_AT = 0.95
DEFAULT_SHARE_FULL_AT = 1.0
DEFAULT_AUC_MODE = "rank"
# Below this share of the evaluation set answered validly an AUC is noise, not skill (issue 12:
# three copies of one model at 0.9458, 0.9689 and 0.9590 after answering different parts).
DEFAULT_AUC_MIN_COVERAGE = 0.9
DEFAULT_WEIGHT = 1.0  # equal weights: each component is worth one point
DEFAULT_LIFETIME_DAYS = 7.0
# Time to first token of a short prompt with a small max_tokens is queueing plus prefill: what a
# chat user waits before anything moves. Full points at 0.2 s, about a person's reaction time and
# what a lightly loaded vLLM or llama.cpp server gives for a small model (not 0 s: prefill is never
# free, and the scale should separate good services, not reward the impossible); 0 points at 2 s,
# where a chat visibly hangs and a bot's caller starts to time out. p95, because one stalled stream
# in twenty is what users remember, while a mean hides a queue that only some requests meet.
DEFAULT_LLM_TTFT_ZERO_AT_S = 2.0
DEFAULT_LLM_TTFT_FULL_AT_S = 0.2
DEFAULT_LLM_TTFT_STATISTIC = "p95"


class RulesError(ClfwatchError, ValueError):
    """The rules file is malformed; the message names the offending key."""


@dataclass(frozen=True)
class Rules:
    """Grading rules. Scales are linear between their two ends and clamped to [0, 1]."""

    latency_zero_at_s: float = DEFAULT_LATENCY_ZERO_AT_S
    latency_full_at_s: float = DEFAULT_LATENCY_FULL_AT_S
    latency_statistic: str = DEFAULT_LATENCY_STATISTIC
    uptime_zero_at: float = DEFAULT_SHARE_ZERO_AT
    uptime_full_at: float = DEFAULT_SHARE_FULL_AT
    rate200_zero_at: float = DEFAULT_SHARE_ZERO_AT
    rate200_full_at: float = DEFAULT_SHARE_FULL_AT
    auc_mode: str = DEFAULT_AUC_MODE
    auc_min_coverage: float = DEFAULT_AUC_MIN_COVERAGE
    # A regular expression a target's whole name must match to earn AUC points; None: no rule.
    auc_name_pattern: str | None = None
    latency_weight: float = DEFAULT_WEIGHT
    uptime_weight: float = DEFAULT_WEIGHT
    rate200_weight: float = DEFAULT_WEIGHT
    auc_weight: float = DEFAULT_WEIGHT
    lifetime_days: float = DEFAULT_LIFETIME_DAYS
    # None: the window runs from the target's registration to the grading time.
    window_days: float | None = None
    # openai-chat targets ([llm]); the uptime and 200-rate scales start equal to the classifiers'.
    llm_ttft_zero_at_s: float = DEFAULT_LLM_TTFT_ZERO_AT_S
    llm_ttft_full_at_s: float = DEFAULT_LLM_TTFT_FULL_AT_S
    llm_ttft_statistic: str = DEFAULT_LLM_TTFT_STATISTIC
    llm_ttft_weight: float = DEFAULT_WEIGHT
    llm_uptime_zero_at: float = DEFAULT_SHARE_ZERO_AT
    llm_uptime_full_at: float = DEFAULT_SHARE_FULL_AT
    llm_uptime_weight: float = DEFAULT_WEIGHT
    llm_rate200_zero_at: float = DEFAULT_SHARE_ZERO_AT
    llm_rate200_full_at: float = DEFAULT_SHARE_FULL_AT
    llm_rate200_weight: float = DEFAULT_WEIGHT

    def weight(self, component: str) -> float:
        """The weight of ``component`` (one of COMPONENTS)."""
        return float(getattr(self, f"{component}_weight"))

    def llm_weight(self, component: str) -> float:
        """The weight of ``component`` of an openai-chat target (one of LLM_COMPONENTS)."""
        return float(getattr(self, f"llm_{component}_weight"))

    def llm_scale(self, component: str) -> tuple[float, float]:
        """``(zero_at, full_at)`` of an openai-chat component: seconds for ttft, shares otherwise."""
        suffix = "_s" if component == "ttft" else ""
        return (float(getattr(self, f"llm_{component}_zero_at{suffix}")),
                float(getattr(self, f"llm_{component}_full_at{suffix}")))

    def name_follows_pattern(self, name: str) -> bool:
        """Whether ``name`` matches ``auc_name_pattern`` in full; always True without a pattern."""
        return self.auc_name_pattern is None or re.fullmatch(self.auc_name_pattern, name) is not None


DEFAULT_RULES = Rules()

# (table, key) -> (Rules field, kind). kind: "seconds" >= 0, "share" in [0, 1], "weight" >= 0,
# "days" > 0, "regex" a non-empty string that compiles, or a tuple of allowed strings.
_KEYS: dict[tuple[str, str], tuple[str, Any]] = {
    ("latency", "zero_at_s"): ("latency_zero_at_s", "seconds"),
    ("latency", "full_at_s"): ("latency_full_at_s", "seconds"),
    ("latency", "statistic"): ("latency_statistic", LATENCY_STATISTICS),
    ("latency", "weight"): ("latency_weight", "weight"),
    ("uptime", "zero_at"): ("uptime_zero_at", "share"),
    ("uptime", "full_at"): ("uptime_full_at", "share"),
    ("uptime", "weight"): ("uptime_weight", "weight"),
    ("rate200", "zero_at"): ("rate200_zero_at", "share"),
    ("rate200", "full_at"): ("rate200_full_at", "share"),
    ("rate200", "weight"): ("rate200_weight", "weight"),
    ("auc", "mode"): ("auc_mode", AUC_MODES),
    ("auc", "weight"): ("auc_weight", "weight"),
    ("auc", "min_coverage"): ("auc_min_coverage", "share"),
    ("auc", "name_pattern"): ("auc_name_pattern", "regex"),
    ("lifetime", "days"): ("lifetime_days", "days"),
    ("window", "days"): ("window_days", "days"),
    ("llm", "ttft_zero_at_s"): ("llm_ttft_zero_at_s", "seconds"),
    ("llm", "ttft_full_at_s"): ("llm_ttft_full_at_s", "seconds"),
    ("llm", "ttft_statistic"): ("llm_ttft_statistic", LATENCY_STATISTICS),
    ("llm", "ttft_weight"): ("llm_ttft_weight", "weight"),
    ("llm", "uptime_zero_at"): ("llm_uptime_zero_at", "share"),
    ("llm", "uptime_full_at"): ("llm_uptime_full_at", "share"),
    ("llm", "uptime_weight"): ("llm_uptime_weight", "weight"),
    ("llm", "rate200_zero_at"): ("llm_rate200_zero_at", "share"),
    ("llm", "rate200_full_at"): ("llm_rate200_full_at", "share"),
    ("llm", "rate200_weight"): ("llm_rate200_weight", "weight"),
}
_TABLES = tuple(dict.fromkeys(t for t, _ in _KEYS))
# Fields that may be None (absent): the JSON document of a board carries them as null.
_OPTIONAL_FIELDS = ("window_days", "auc_name_pattern")


def _table_hint(name: str) -> str:
    """For a flat key like ``auc_min_coverage`` or ``name_pattern``: the table it belongs in."""
    keys = [k for _, k in _KEYS]
    for table, key in _KEYS:
        if name == f"{table}_{key}" or (name == key and keys.count(key) == 1):
            return f"; did you mean {key} = ... under [{table}]?"
    return ""


def _check_value(name: str, value: Any, kind: Any) -> Any:
    if isinstance(kind, tuple):
        if not isinstance(value, str) or value not in kind:
            raise RulesError(f"{name}: must be one of {', '.join(kind)}, got {str(value)[:40]!r}")
        return value
    if kind == "regex":
        if not isinstance(value, str) or not value:
            raise RulesError(f"{name}: must be a non-empty regular expression in quotes, "
                             f"got {str(value)[:40]!r}; leave it out for no rule")
        # Names are stored NFC-normalised; a pattern typed with decomposed letters (Е + ̈) must
        # still match the stored Ё.
        value = unicodedata.normalize("NFC", value)
        try:
            re.compile(value)
        except re.error as exc:
            raise RulesError(f"{name}: not a valid regular expression ({exc}); "
                             "write it as a TOML literal string in single quotes") from None
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RulesError(f"{name}: must be a finite number, got {str(value)[:40]!r}")
    value = float(value)
    if kind == "share" and not 0.0 <= value <= 1.0:
        raise RulesError(f"{name}: must be between 0 and 1, got {value}")
    if kind in ("seconds", "weight") and value < 0:
        raise RulesError(f"{name}: must be 0 or more, got {value}")
    if kind == "days" and value <= 0:
        raise RulesError(f"{name}: must be more than 0, got {value}")
    return value


def rules_from_dict(document: dict[str, Any]) -> Rules:
    """Rules from a nested dict shaped like the TOML file; RulesError naming the bad key."""
    if not isinstance(document, dict):
        raise RulesError("the rules must be a table of tables")
    fields: dict[str, Any] = {}
    for table, body in document.items():
        if table not in _TABLES:
            raise RulesError(f"{table}: unknown table (known: {', '.join(_TABLES)}){_table_hint(table)}")
        if not isinstance(body, dict):
            raise RulesError(f"{table}: must be a table, e.g. [{table}]")
        for key, value in body.items():
            name = f"{table}.{key}"
            if (table, key) not in _KEYS:
                known = ", ".join(k for t, k in _KEYS if t == table)
                raise RulesError(f"{name}: unknown key (known in [{table}]: {known})")
            field, kind = _KEYS[(table, key)]
            if value is None and field in _OPTIONAL_FIELDS:
                continue
            fields[field] = _check_value(name, value, kind)
    rules = Rules(**fields)
    for table, zero_key, full_key in (
        ("latency", "zero_at_s", "full_at_s"),
        ("uptime", "zero_at", "full_at"),
        ("rate200", "zero_at", "full_at"),
        ("llm", "ttft_zero_at_s", "ttft_full_at_s"),
        ("llm", "uptime_zero_at", "uptime_full_at"),
        ("llm", "rate200_zero_at", "rate200_full_at"),
    ):
        zero = getattr(rules, _KEYS[(table, zero_key)][0])
        full = getattr(rules, _KEYS[(table, full_key)][0])
        if zero == full:
            raise RulesError(f"{table}.{full_key}: must differ from {table}.{zero_key} ({zero})")
    return rules


def parse_rules(toml_text: str) -> Rules:
    """Rules from TOML text; missing keys keep their defaults, an empty text gives DEFAULT_RULES."""
    try:
        document = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"not valid TOML: {exc}") from None
    return rules_from_dict(document)


def rules_to_dict(rules: Rules) -> dict[str, Any]:
    """The rules as the nested dict of the TOML layout; ``rules_from_dict`` reads it back."""
    document: dict[str, dict[str, Any]] = {}
    for (table, key), (field, _kind) in _KEYS.items():
        document.setdefault(table, {})[key] = getattr(rules, field)
    return document


def load_rules_file(path: Path) -> Rules:
    """Rules from a TOML file; RulesError naming the file, or the key inside it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read the rules file ({type(exc).__name__})") from None
    try:
        return parse_rules(text)
    except RulesError as exc:
        raise RulesError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class GradingDefaults:
    """The operator's choices from outside the database; the stored grading configuration wins.

    Built by whoever holds the settings (``clfwatch score``, the dashboard, the team API) with
    ``load_grading_defaults``, so scoring never reads settings itself.
    """

    rules: Rules = DEFAULT_RULES  # CLFWATCH_RULES_FILE, else the built-in defaults
    defense_at: datetime | None = None  # CLFWATCH_DEFENSE_AT; None: now


def load_grading_defaults(*, rules_file: Path | None, defense_at: datetime | None) -> GradingDefaults:
    """Defaults from a rules file (None: built-in rules) and a defense time; RulesError for a bad file.

    The file is read here, once, even when the stored configuration will override it: a broken
    CLFWATCH_RULES_FILE is an error to fix, not one to find on the day the stored rules are cleared.
    """
    rules = load_rules_file(rules_file) if rules_file is not None else DEFAULT_RULES
    return GradingDefaults(rules=rules, defense_at=defense_at)
