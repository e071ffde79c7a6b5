"""The hidden labelled evaluation set: loading it, and handing out texts without labels."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.errors import ClfwatchError
from storage.models import NAME_MAX_CHARS, EvalSample

REQUIRED_COLUMNS = ("id", "text", "label")


class EvalSetError(ClfwatchError, ValueError):
    """The evaluation file is malformed; the message names the line."""


@dataclass(frozen=True)
class EvalText:
    """A sample as the prober sends it: no label."""

    id: str
    text: str


def parse_eval_csv(content: str) -> list[tuple[str, str, int]]:
    """Rows of ``id,text,label``; EvalSetError naming the first bad line. Empty file: error."""
    reader = csv.DictReader(io.StringIO(content, newline=""))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise EvalSetError(f"line 1: missing column(s) {', '.join(missing)}")
    rows: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        sample_id = (record.get("id") or "").strip()
        text = record.get("text")
        label = (record.get("label") or "").strip()
        if not sample_id or len(sample_id) > NAME_MAX_CHARS:
            raise EvalSetError(f"line {line}: id must be 1-{NAME_MAX_CHARS} characters")
        if sample_id in seen:
            raise EvalSetError(f"line {line}: duplicate id {sample_id!r} (first on line {seen[sample_id]})")
        if text is None or text == "":
            raise EvalSetError(f"line {line}: empty text")
        if label not in ("0", "1"):
            raise EvalSetError(f"line {line}: label must be 0 or 1, got {label[:20]!r}")
        seen[sample_id] = line
        rows.append((sample_id, text, int(label)))
    if not rows:
        raise EvalSetError("the file holds no samples")
    return rows


def replace_eval_set(session: Session, rows: list[tuple[str, str, int]]) -> int:
    """Swap the whole evaluation set for ``rows`` in one transaction; returns the count."""
    session.execute(delete(EvalSample))
    session.add_all(EvalSample(id=i, text=t, label=lab) for i, t, lab in rows)
    session.flush()
    return len(rows)


def eval_texts(session: Session) -> list[EvalText]:
    """Every sample's id and text, by id; no labels. Empty list when none is loaded."""
    return [
        EvalText(id=i, text=t)
        for i, t in session.execute(select(EvalSample.id, EvalSample.text).order_by(EvalSample.id))
    ]


def eval_labels(session: Session) -> dict[str, int]:
    """Sample id to hidden label. For scoring only: never show, log or export these."""
    return dict(session.execute(select(EvalSample.id, EvalSample.label)).tuples().all())


def eval_count(session: Session) -> int:
    """How many samples are loaded; 0 when none."""
    return int(session.scalar(select(func.count()).select_from(EvalSample)) or 0)
