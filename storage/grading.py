"""The grading configuration an admin can change at run time (one row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from storage.models import GradingConfig

_UNSET = object()


@dataclass(frozen=True)
class GradingConfigView:
    defense_at: datetime | None  # None: settings' CLFWATCH_DEFENSE_AT, else now
    baseline_auc: float | None  # None: computed from sample_submission.csv
    rules_toml: str | None  # None: CLFWATCH_RULES_FILE, else built-in defaults


def get_grading_config(session: Session) -> GradingConfigView:
    """The stored configuration; all fields None when nothing was ever set."""
    row = session.get(GradingConfig, 1)
    if row is None:
        return GradingConfigView(None, None, None)
    return GradingConfigView(row.defense_at, row.baseline_auc, row.rules_toml)


def set_grading_config(
    session: Session,
    *,
    defense_at: datetime | None | object = _UNSET,
    baseline_auc: float | None | object = _UNSET,
    rules_toml: str | None | object = _UNSET,
) -> GradingConfigView:
    """Change the given fields only; None clears a field back to its default."""
    row = session.get(GradingConfig, 1)
    if row is None:
        row = GradingConfig(id=1)
        session.add(row)
    if defense_at is not _UNSET:
        row.defense_at = defense_at  # type: ignore[assignment]
    if baseline_auc is not _UNSET:
        row.baseline_auc = baseline_auc  # type: ignore[assignment]
    if rules_toml is not _UNSET:
        row.rules_toml = rules_toml  # type: ignore[assignment]
    session.flush()
    return get_grading_config(session)
