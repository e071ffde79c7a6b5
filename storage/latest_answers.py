"""Each evaluation sample's latest valid answer per target, the input of a target's ROC-AUC.

Valid means a ``predict`` probe whose outcome is ``ok`` and that carries a probability; the
latest is the newest such probe started before the grading time (ties by id), so an older answer
and a later failed answer to the same sample do not count.

How it is read. Ranking a week of probes per target is the expensive part of a scoreboard, and
the last hours usually answered every sample. So the newest predict probes are read first, in one
query for all targets: a slice of the newest ``LOOKBACK_PER_SAMPLE`` × samples rows per target
(at least ``MIN_LOOKBACK_ROWS``). Targets still missing samples are read again, all together, with
a slice twice as deep, until every sample is found or a slice reaches a target's first probe.
The number of queries depends on how deep the history must be read (a few doublings), never on
the number of targets; the answers are the same as ranking every row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, literal, select, text
from sqlalchemy.orm import Session

from storage.models import Probe, Target, UTCDateTime
from storage.probe_counts import IN_LIST_CHUNK

# The first slice holds at least this many of a target's newest predict probes ...
MIN_LOOKBACK_ROWS = 100
# ... and else this many per evaluation sample asked for.
LOOKBACK_PER_SAMPLE = 2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SORT_WORK_MEM = "64MB"  # Postgres, for this transaction only


def _sample_key(session: Session) -> ColumnElement[str]:
    """Grouping needs no linguistic order: a byte-wise collation sorts several times faster on Postgres."""
    if session.get_bind().dialect.name == "postgresql":
        return Probe.sample_id.collate("C")
    return Probe.sample_id  # type: ignore[return-value]


def _valid_answers() -> tuple[ColumnElement[bool], ...]:
    return (Probe.kind == "predict", Probe.outcome == "ok", Probe.sample_id.is_not(None),
            Probe.probability.is_not(None))


def latest_probabilities(
    session: Session,
    target_id: int,
    at: datetime,
    *,
    sample_ids: Collection[str] | None = None,
    lookback_rows: int | None = None,
) -> dict[str, float]:
    """Sample id to the probability of the newest ``ok`` predict probe started before ``at``.

    With ``sample_ids``, only those samples are returned, read newest first in slices that double
    in depth (see the module's docstring; the first ``lookback_rows`` predict probes, default
    twice the samples asked for). Empty dict when none answered.
    """
    if sample_ids is None:
        ranked = (
            select(
                Probe.sample_id, Probe.probability,
                func.row_number()
                .over(partition_by=_sample_key(session), order_by=(Probe.started_at.desc(), Probe.id.desc()))
                .label("rn"),
            )
            .where(Probe.target_id == target_id, *_valid_answers(), Probe.started_at < at)
            .subquery()
        )
        rows = session.execute(select(ranked.c.sample_id, ranked.c.probability).where(ranked.c.rn == 1))
        return {str(k): float(v) for k, v in rows.tuples()}
    return latest_probabilities_many(
        session, [target_id], at, sample_ids=sample_ids, lookback_rows=lookback_rows
    )[target_id]


def _first_depth(wanted: Collection[str], lookback_rows: int | None) -> int:
    return lookback_rows or max(MIN_LOOKBACK_ROWS, LOOKBACK_PER_SAMPLE * len(wanted))


def latest_probabilities_many(
    session: Session,
    target_ids: Sequence[int],
    at: datetime,
    *,
    sample_ids: Collection[str],
    lookback_rows: int | None = None,
) -> dict[int, dict[str, float]]:
    """``latest_probabilities`` of many targets, each round of slices in one query for all of them.

    Every target asked for is in the result (an empty dict when it answered none of
    ``sample_ids``). Queries: two per round and per ``IN_LIST_CHUNK`` targets; rounds: one, plus
    one per doubling of the depth that some target still needs.
    """
    wanted = set(sample_ids)
    found: dict[int, dict[str, float]] = {t: {} for t in target_ids}
    if not target_ids or not wanted:
        return found
    if session.get_bind().dialect.name == "postgresql":
        # The newest slices of all targets are ranked in one sort; keep it in memory, not on disk.
        session.execute(text(f"SET LOCAL work_mem = '{SORT_WORK_MEM}'"))
    pending = list(dict.fromkeys(target_ids))
    depth = _first_depth(wanted, lookback_rows)
    while pending:
        still: list[int] = []
        for i in range(0, len(pending), IN_LIST_CHUNK):
            ids = pending[i : i + IN_LIST_CHUNK]
            missing = set().union(*(wanted - found[t].keys() for t in ids))
            whole_history = _read_slice(session, ids, at, depth, missing, found)
            still += [t for t in ids if t not in whole_history and wanted - found[t].keys()]
        pending, depth = still, depth * 2
    return found


def _read_slice(
    session: Session, ids: list[int], at: datetime, depth: int, missing: set[str],
    found: dict[int, dict[str, float]],
) -> set[int]:
    """Latest valid answers among each target's newest ``depth`` predict probes before ``at``.

    Adds the samples in ``missing`` to ``found``; returns the targets whose slice reached their
    first probe (nothing older is left to read).
    """
    cut = (
        select(
            Target.id.label("target_id"),
            select(Probe.started_at)
            .where(Probe.target_id == Target.id, Probe.kind == "predict", Probe.started_at < at)
            .order_by(Probe.started_at.desc())
            .offset(depth)
            .limit(1)
            .scalar_subquery()
            .label("cutoff"),
        )
        .where(Target.id.in_(ids))
        .cte("cut")
        # computed once per target, not once per probe row it is joined to
        .prefix_with("MATERIALIZED")
    )
    whole_history = {
        target_id for target_id, cutoff in session.execute(select(cut.c.target_id, cut.c.cutoff)).tuples()
        if cutoff is None
    }
    conditions = [Probe.started_at < at,
                  Probe.started_at >= func.coalesce(cut.c.cutoff, literal(EPOCH, UTCDateTime()))]
    if len(missing) <= IN_LIST_CHUNK:
        conditions.append(Probe.sample_id.in_(sorted(missing)))
    ranked = (
        select(
            Probe.target_id, Probe.sample_id, Probe.probability,
            func.row_number()
            .over(partition_by=(Probe.target_id, _sample_key(session)),
                  order_by=(Probe.started_at.desc(), Probe.id.desc()))
            .label("rn"),
        )
        .select_from(cut.join(Probe, Probe.target_id == cut.c.target_id))
        .where(*_valid_answers(), *conditions)
        .subquery()
    )
    query = select(ranked.c.target_id, ranked.c.sample_id, ranked.c.probability).where(ranked.c.rn == 1)
    for target_id, sample_id, probability in session.execute(query).tuples():
        if sample_id in missing and sample_id not in found[target_id]:
            found[target_id][str(sample_id)] = float(probability)
    return whole_history
