"""What the LLM board and an openai-chat target's team page show beside the grade: the speed of its
streamed answers (time to first token, inter-token latency, tokens per second, end-to-end
latency) and its recent failed chat probes with their schema reasons.

Read from the newest ``CHAT_SAMPLE_MAX`` ok chat probes of a window, one index-ordered scan per
target (``ix_probes_target_kind_started``), so a week of probes every few seconds costs the same as
an hour: these are shown, not graded (the graded TTFT comes from ``storage.windows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.redaction import redact_text
from storage.latency_percentiles import _nearest_rank
from storage.models import Probe, Target

CHAT_KIND = "chat"
CHAT_SAMPLE_MAX = 500  # newest ok chat probes a summary is over
REASON_MAX_CHARS = 200  # a schema reason is one field path and what was wrong; longer is cut
TOKENS_SOURCES = ("usage", "chunks")


@dataclass(frozen=True)
class ChatMeasures:
    """Speed of one target's newest ok chat probes; every figure None when there was none."""

    n: int = 0  # ok chat probes summarised (at most CHAT_SAMPLE_MAX)
    ttft_p50_ms: float | None = None  # time to the first content chunk, nearest rank
    ttft_p95_ms: float | None = None
    itl_ms: float | None = None  # mean of the probes' mean gaps between content chunks
    tokens_per_s: float | None = None  # mean output tokens per second after the first one
    e2e_ms: float | None = None  # mean whole exchange, request to the end of the stream
    e2e_p95_ms: float | None = None
    n_usage: int = 0  # probes whose token count came from the server's ``usage``
    n_chunks: int = 0  # probes whose token count we made by counting content chunks

    @property
    def tokens_source(self) -> str | None:
        """``usage``, ``chunks``, ``mixed``, or None when no probe counted tokens."""
        if self.n_usage and self.n_chunks:
            return "mixed"
        if self.n_usage:
            return "usage"
        return "chunks" if self.n_chunks else None


@dataclass(frozen=True)
class ChatFailure:
    """One chat probe whose outcome was not ok, with the schema reason when it was answered."""

    started_at: datetime  # aware, UTC
    outcome: str  # bad_body, http_error, timeout, ...
    status_code: int | None  # None when no HTTP answer came
    latency_ms: float | None  # end to end; None when no answer came
    # The contract check's first problem (``choices[0].message.role: expected "assistant"``), for
    # answered probes only: clfwatch's words naming a field path, never the body. None otherwise.
    reason: str | None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rank(sorted_values: list[float], q: float) -> float | None:
    return sorted_values[_nearest_rank(q, len(sorted_values)) - 1] if sorted_values else None


def chat_measures(
    session: Session, target_id: int, start: datetime, end: datetime, *, limit: int = CHAT_SAMPLE_MAX
) -> ChatMeasures:
    """Speed of the newest ``limit`` ok chat probes started in ``[start, end)``; zeros and Nones
    when there was none. The prober's late probes are left out, as everywhere."""
    rows = session.execute(
        select(Probe.ttft_ms, Probe.itl_ms, Probe.tokens_per_s, Probe.latency_ms, Probe.tokens_source)
        .where(
            Probe.target_id == target_id, Probe.kind == CHAT_KIND, Probe.outcome == "ok",
            Probe.started_at >= start, Probe.started_at < end, Probe.prober_late_ms.is_(None),
        )
        .order_by(Probe.started_at.desc())
        .limit(limit)
    ).tuples().all()
    if not rows:
        return ChatMeasures()
    ttft = sorted(float(r[0]) for r in rows if r[0] is not None)
    e2e = sorted(float(r[3]) for r in rows if r[3] is not None)
    return ChatMeasures(
        n=len(rows),
        ttft_p50_ms=_rank(ttft, 0.50),
        ttft_p95_ms=_rank(ttft, 0.95),
        itl_ms=_mean([float(r[1]) for r in rows if r[1] is not None]),
        tokens_per_s=_mean([float(r[2]) for r in rows if r[2] is not None]),
        e2e_ms=_mean(e2e),
        e2e_p95_ms=_rank(e2e, 0.95),
        n_usage=sum(1 for r in rows if r[4] == "usage"),
        n_chunks=sum(1 for r in rows if r[4] == "chunks"),
    )


def chat_measures_many(
    session: Session, windows: dict[int, tuple[datetime, datetime]], *, limit: int = CHAT_SAMPLE_MAX
) -> dict[int, ChatMeasures]:
    """``chat_measures`` of each target id over its own ``[start, end)``; one scan per target."""
    return {t: chat_measures(session, t, s, e, limit=limit) for t, (s, e) in windows.items()}


def chat_failures(
    session: Session, target_id: int, start: datetime, end: datetime, *, limit: int
) -> list[ChatFailure]:
    """Up to ``limit`` newest non-ok chat probes in ``[start, end)``, newest first; empty if none.

    The reason is the stored detail of an answered probe (the contract check's words), redacted
    of the target's own key and any bearer credential and cut to REASON_MAX_CHARS; an unanswered probe's
    detail (a transport error's text) is never returned.
    """
    rows = session.execute(
        select(Probe.started_at, Probe.outcome, Probe.status_code, Probe.latency_ms, Probe.detail)
        .where(
            Probe.target_id == target_id, Probe.kind == CHAT_KIND, Probe.outcome != "ok",
            Probe.started_at >= start, Probe.started_at < end,
        )
        .order_by(Probe.started_at.desc())
        .limit(limit)
    ).tuples()
    token = session.scalar(select(Target.token).where(Target.id == target_id))
    out = []
    for started_at, outcome, status_code, latency_ms, detail in rows:
        reason = None
        if status_code is not None and detail:
            reason = redact_text(detail, [token])[:REASON_MAX_CHARS]
        out.append(ChatFailure(started_at, outcome, status_code, latency_ms, reason))
    return out
