"""What every scenario receives: the target, the bars, and how much load machinery to use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stress.bars import DEFAULT_BARS, Bars
from stress.target import TargetSpec


@dataclass(frozen=True)
class StressContext:
    spec: TargetSpec
    bars: Bars = DEFAULT_BARS
    workers: int = 0  # 0: one Locust process; N: Locust master + N workers on loopback
    # what one scenario leaves for a later one of the same run (the LLM burst's end time, which
    # its recovery scenario measures from)
    memo: dict[str, Any] = field(default_factory=dict)
