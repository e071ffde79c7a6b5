"""The stress suites by name: ``classifier`` (the contract's ten) and ``llm`` (openai-chat's ten)."""

from __future__ import annotations

from core.contract import TargetKind
from stress.llm.scenarios import LLM_SUITE
from stress.scenarios import CLASSIFIER_SUITE, Suite

SUITES: dict[str, Suite] = {s.name: s for s in (CLASSIFIER_SUITE, LLM_SUITE)}
SUITE_NAMES: tuple[str, ...] = tuple(SUITES)


def suite_for_kind(kind: str) -> Suite:
    """The suite that tests a target of ``kind`` (core.contract.TargetKind); classifier otherwise."""
    return LLM_SUITE if kind == TargetKind.OPENAI_CHAT else CLASSIFIER_SUITE
