"""Table layouts. Only ``storage`` knows them; every other package calls storage functions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names on SQLite and Postgres alike, so migrations compare cleanly.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_MAX_CHARS = 64
# Course team names such as "PROD_ML_FALL_25|IVANOV_PETROV", Cyrillic surnames included.
TARGET_NAME_MAX_CHARS = 100
# sha256 hex of a team key: the key itself is never stored.
KEY_HASH_CHARS = 64
URL_MAX_CHARS = 2048
PATH_MAX_CHARS = 256
MODEL_MAX_CHARS = 256
DETAIL_MAX_CHARS = 300
# What a team sees of a failed answer: enough to recognise a traceback or an HTML error page.
BODY_EXCERPT_MAX_CHARS = 500
# A bigint that is still an autoincrementing INTEGER PRIMARY KEY on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware.

    SQLite forgets the zone; without this, times read back naive and compare wrongly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to storage; pass an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Target(Base):
    """A registered target (a classifier or an OpenAI-compatible chat service) and how to reach it."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(TARGET_NAME_MAX_CHARS), unique=True)
    base_url: Mapped[str] = mapped_column(String(URL_MAX_CHARS))
    predict_path: Mapped[str] = mapped_column(String(PATH_MAX_CHARS), default="/predict")
    health_path: Mapped[str] = mapped_column(String(PATH_MAX_CHARS), default="/health")
    # JSON document with {text} and {id} placeholders; None means the design's contract.
    request_template: Mapped[str | None] = mapped_column(Text, default=None)
    # RFC 6901 pointer to the probability in the answer.
    probability_pointer: Mapped[str] = mapped_column(String(PATH_MAX_CHARS), default="/probability")
    # Bearer token sent to the target; never listed, logged or shown.
    token: Mapped[str | None] = mapped_column(String(1024), default=None)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Registered by the team itself through the team API (its URL is held to the allowed networks).
    self_service: Mapped[bool] = mapped_column(Boolean, default=False)
    # sha256 hex of the team's key; the key is shown once and never stored.
    key_hash: Mapped[str | None] = mapped_column(String(KEY_HASH_CHARS), unique=True, default=None)
    key_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # core.contract.TargetKind: "classifier" or "openai-chat".
    kind: Mapped[str] = mapped_column(String(16), default="classifier", server_default="classifier")
    # openai-chat only: the model named in every chat request (read from /v1/models if not given).
    model: Mapped[str | None] = mapped_column(String(MODEL_MAX_CHARS), default=None)


class TargetChange(Base):
    """One change of a target: who, when, which fields. Never a value (tokens stay secret)."""

    __tablename__ = "target_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(16))  # "operator", "team" or "admin"
    fields: Mapped[list[str]] = mapped_column(JSON)  # names of the changed fields


class Probe(Base):
    """One probe of one target: what was sent, what came back, how long it took."""

    __tablename__ = "probes"
    __table_args__ = (
        Index("ix_probes_target_kind_started", "target_id", "kind", "started_at"),
        Index("ix_probes_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Made by the prober; lets a replayed batch land exactly once.
    probe_uid: Mapped[str] = mapped_column(String(36), unique=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # core.contract.ProbeKind
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    # The part of latency_ms spent opening the connection (DNS, TCP, TLS): every probe opens one.
    connect_ms: Mapped[float | None] = mapped_column(Float, default=None)
    outcome: Mapped[str] = mapped_column(String(32))  # ok, timeout, connect_error, ...
    detail: Mapped[str | None] = mapped_column(String(DETAIL_MAX_CHARS), default=None)
    # Failed probes only: the start of the answer body, for the team's own status page.
    body_excerpt: Mapped[str | None] = mapped_column(String(BODY_EXCERPT_MAX_CHARS), default=None)
    sample_id: Mapped[str | None] = mapped_column(String(NAME_MAX_CHARS), default=None)
    probability: Mapped[float | None] = mapped_column(Float, default=None)
    # Set when the probe started this many ms after its slot, past CLFWATCH_PROBE_LATE_AFTER_S:
    # the prober was behind (overloaded or stalled), so the row is our lateness, kept for the
    # record but never graded (latency, uptime, 200-rate). None: started on time.
    prober_late_ms: Mapped[float | None] = mapped_column(Float, default=None)
    # chat probes only (openai-chat targets), from the streamed answer (core.llm_contract):
    ttft_ms: Mapped[float | None] = mapped_column(Float, default=None)  # to the first content
    itl_ms: Mapped[float | None] = mapped_column(Float, default=None)  # mean gap between tokens
    tokens_per_s: Mapped[float | None] = mapped_column(Float, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    # Where output_tokens came from: "usage" (the server said) or "chunks" (we counted).
    tokens_source: Mapped[str | None] = mapped_column(String(8), default=None)


# The probe kind graded on its time to first token instead of the whole exchange (an LLM's latency).
TTFT_PROBE_KIND = "chat"


def graded_latency_column(kind: str) -> Any:
    """The column holding the graded latency of ``kind`` probes: what rollups and bins count."""
    return Probe.ttft_ms if kind == TTFT_PROBE_KIND else Probe.latency_ms


class ProbeRollup(Base):
    """Per target, kind and hour: counts and latency sums (of ok probes only), beside the raw rows.

    Kept in the same transaction as the raw rows, so the two never disagree. For ``chat`` probes
    the latency summed (and binned) is the time to first token, the latency an LLM is graded on.
    """

    __tablename__ = "probe_rollups"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    n_total: Mapped[int] = mapped_column(BigInteger, default=0)
    n_ok: Mapped[int] = mapped_column(BigInteger, default=0)  # outcome == "ok"
    n_200: Mapped[int] = mapped_column(BigInteger, default=0)  # status_code == 200
    latency_n: Mapped[int] = mapped_column(BigInteger, default=0)  # ok rows with a latency (ok only)
    latency_sum_ms: Mapped[float] = mapped_column(Float, default=0.0)  # sum over those ok rows
    # Probes marked as the prober's lateness: counted here only, in none of the counts above.
    n_late: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ProbeLatencyBin(Base):
    """Per target, kind and hour: how many latencies of ok probes fell at or below each bin edge.

    Only ok probes, like ``ProbeRollup.latency_n``: the graded latency. Lets percentiles come
    from rollups instead of millions of raw rows.
    """

    __tablename__ = "probe_latency_bins"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    le_ms: Mapped[float] = mapped_column(Float, primary_key=True)  # upper edge of the bin
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class ProberSession(Base):
    """One run of one prober process, from start to its last heartbeat.

    Time covered by no session is a gap: it counts neither for nor against a target.
    """

    __tablename__ = "prober_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(NAME_MAX_CHARS * 4))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    interval_s: Mapped[float] = mapped_column(Float)
    # The replica ordinal of a prober started with ``--shard auto`` (a StatefulSet pod's
    # ``clfwatch-prober-K``); the live sessions' ordinals are the peers that split the targets.
    shard_ordinal: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The prober's own lateness, for the dashboard's banner: the worst start delay (ms after
    # the slot) of the probes since the previous heartbeat, the probes this session marked late
    # (kept, never graded), and when it last marked one (None: never).
    lateness_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    late_probes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    late_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EvalSample(Base):
    """The hidden labelled evaluation set. Labels leave the database only into scoring."""

    __tablename__ = "eval_samples"

    id: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[int] = mapped_column(SmallInteger)


class StressRun(Base):
    """One run of the stress scenarios against one target or loopback URL."""

    __tablename__ = "stress_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("targets.id", ondelete="SET NULL"), default=None, index=True
    )
    target_url: Mapped[str] = mapped_column(String(URL_MAX_CHARS))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # running, finished, interrupted, failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    score: Mapped[int] = mapped_column(Integer, default=0)
    # which ten scenarios: "classifier" (every run before 0010) or "llm" (openai-chat targets)
    suite: Mapped[str] = mapped_column(String(16), default="classifier", server_default="classifier")
    # whether its score may be the target's stress points: False for part of the suite (--only),
    # other bars, or an operator's key or model (0011)
    graded: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    results: Mapped[list[StressResult]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="StressResult.id"
    )


class StressResult(Base):
    """The verdict of one scenario in one run, with the evidence behind it."""

    __tablename__ = "stress_results"
    __table_args__ = (UniqueConstraint("run_id", "scenario", name="uq_stress_results_run_scenario"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("stress_runs.id", ondelete="CASCADE"))
    scenario: Mapped[str] = mapped_column(String(32))
    passed: Mapped[bool] = mapped_column(Boolean)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run: Mapped[StressRun] = relationship(back_populates="results")


class GradingConfig(Base):
    """The one row of grading configuration an admin can change at run time."""

    __tablename__ = "grading_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    defense_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    baseline_auc: Mapped[float | None] = mapped_column(Float, default=None)
    rules_toml: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DriftReport(Base):
    """A summary of one Evidently drift run; the full report lives in Evidently or a file."""

    __tablename__ = "drift_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reference_from: Mapped[datetime] = mapped_column(UTCDateTime())
    reference_to: Mapped[datetime] = mapped_column(UTCDateTime())
    current_from: Mapped[datetime] = mapped_column(UTCDateTime())
    current_to: Mapped[datetime] = mapped_column(UTCDateTime())
    # Per column: method, score, threshold, drifted; or {"error": "..."}.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    html_path: Mapped[str | None] = mapped_column(String(1024), default=None)


# --- alerts (issue 16) ---------------------------------------------------------------------

REASON_MAX_CHARS = 300
ALERT_URL_MAX_CHARS = 4096  # Apprise URLs carry tokens and query options
MASKED_URL_MAX_CHARS = 300
ALERT_ERROR_MAX_CHARS = 500


class Incident(Base):
    """A stretch of time in which one kind of probe of one target kept failing.

    Opened after the failure threshold of consecutive failed probes, resolved after the success
    threshold of consecutive ok ones; ``resolved_at`` is None while it is open.
    """

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_target_kind_resolved", "target_id", "kind", "resolved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # core.contract.ProbeKind
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the first failed probe's start
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # first ok probe
    outcome: Mapped[str] = mapped_column(String(32))  # of the probe that opened it
    reason: Mapped[str] = mapped_column(String(REASON_MAX_CHARS))  # a phrase, never a body or secret
    failed_probes: Mapped[int] = mapped_column(Integer, default=0)  # failed probes while open
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # last message


class AlertChannel(Base):
    """Where messages go: an Apprise URL, for one target or (target_id None) for every target.

    The URL holds provider secrets: only ``masked`` ever leaves storage in a listing.
    """

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), default=None, index=True
    )
    url: Mapped[str] = mapped_column(String(ALERT_URL_MAX_CHARS))
    masked: Mapped[str] = mapped_column(String(MASKED_URL_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertDelivery(Base):
    """One message to one channel and how it ended: sent, or failed after its retries."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="SET NULL"), default=None, index=True
    )
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), default=None
    )
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), default=None
    )
    event: Mapped[str] = mapped_column(String(16))  # down, resolved, repeat, test
    status: Mapped[str] = mapped_column(String(16))  # sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(String(ALERT_ERROR_MAX_CHARS), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # first attempt
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- the reference service's traffic sample (issue 15) -------------------------------------

# Longer texts are cut to this many characters before they are kept: the ring holds N texts,
# and N texts of the service's 100,000-character cap would be a 100 MB table.
TRAFFIC_TEXT_MAX_CHARS = 5_000


class TrafficText(Base):
    """One text the reference service was asked to classify, kept for text drift (a ring of N).

    Deliberately nothing else: no request id, no sample id, no token, no header.
    """

    __tablename__ = "traffic_texts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    text: Mapped[str] = mapped_column(Text)
