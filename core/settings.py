"""Every setting of every clfwatch process, read from ``CLFWATCH_*`` variables in one place.

A bad value stops the process at start with a message naming the variable, rather than
surfacing later as a confusing failure deep inside a probe or a page.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ClfwatchError
from core.netguard import DEFAULT_SELF_SERVICE_NETWORKS, AllowedNetworks, parse_networks

ENV_PREFIX = "CLFWATCH_"
DEFAULT_DATABASE_URL = "sqlite:///./clfwatch.db"
DEFAULT_EVIDENTLY_PROJECT = "clfwatch-drift"
DEFAULT_PROBE_INTERVAL_S = 10.0
DEFAULT_PROBE_TIMEOUT_S = 2.0
DEFAULT_PROBE_METRICS_PORT = 9101
DEFAULT_PROBE_METRICS_HOST = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape it
DEFAULT_PROBE_CONCURRENCY = 200
DEFAULT_PROBE_BUFFER_ROWS = 50_000
DEFAULT_PROBE_MAX_BODY_BYTES = 64 * 1024
# A probe that starts later than this share of the interval after its slot is the prober's
# lateness (an overloaded or stalled prober), not a measurement of the target: it is kept,
# marked, and left out of latency, uptime and 200-rate.
DEFAULT_PROBE_LATE_FRACTION = 0.1
# How often an openai-chat target's key enforcement is checked (after its first check at start).
DEFAULT_PROBE_AUTH_EVERY_S = 3600.0
DEFAULT_SERVICE_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_SERVICE_MAX_TEXT_CHARS = 100_000
# Texts the reference service keeps of its traffic (a ring in the database) for text drift.
DEFAULT_SERVICE_TRAFFIC_SAMPLE = 1_000
DEFAULT_MODEL_DIR = Path("./var/model")
DEFAULT_SPILL_DIR = Path("./var/spill")
DEFAULT_DRIFT_DIR = Path("./var/drift")  # Evidently HTML reports, ~4 MB each
DEFAULT_DRIFT_KEEP_REPORTS = 20  # HTML reports kept per target; older files are deleted
# A model change: from some time on, at least SHARE of MIN_SAMPLES (or more) re-asked samples
# answer more than TOLERANCE away from their previous answer.
DEFAULT_MODEL_CHANGE_MIN_SAMPLES = 20
DEFAULT_MODEL_CHANGE_SHARE = 0.5
DEFAULT_MODEL_CHANGE_TOLERANCE = 0.01
DEFAULT_ALERT_FAILURE_THRESHOLD = 3  # consecutive failed probes of one kind open an incident
DEFAULT_ALERT_SUCCESS_THRESHOLD = 2  # consecutive ok probes of that kind resolve it
DEFAULT_API_PORT = 8088  # the team API (clfwatch api)
# The demo LLM (clfwatch service llm): the course's port and example key, so a student's client
# configured for the course talks to it unchanged. It guards nothing but a Markov chain.
DEFAULT_DEMO_LLM_KEY = "cu_prodml_hw_week13"
DEFAULT_DEMO_LLM_PORT = 38300
PLACEHOLDER_SECRETS = {"changethis", "changeme", "password", "secret", "admin", "replace-me"}


class SettingsError(ClfwatchError):
    """A ``CLFWATCH_*`` variable holds a value the process cannot run with."""

    exit_code = 2  # a usage error, as argparse's


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    admin_password: SecretStr | None = None
    prometheus_url: str | None = None
    evidently_url: str | None = None
    evidently_project: str = DEFAULT_EVIDENTLY_PROJECT
    probe_interval_s: float = Field(DEFAULT_PROBE_INTERVAL_S, gt=0, le=3600)
    probe_timeout_s: float = Field(DEFAULT_PROBE_TIMEOUT_S, gt=0, le=600)
    probe_metrics_port: int = Field(DEFAULT_PROBE_METRICS_PORT, ge=0, le=65535)
    probe_metrics_host: str = DEFAULT_PROBE_METRICS_HOST
    probe_concurrency: int = Field(DEFAULT_PROBE_CONCURRENCY, ge=1, le=10_000)
    probe_buffer_rows: int = Field(DEFAULT_PROBE_BUFFER_ROWS, ge=1)
    probe_max_body_bytes: int = Field(DEFAULT_PROBE_MAX_BODY_BYTES, ge=1024)
    probe_spill_dir: Path = DEFAULT_SPILL_DIR
    # Seconds after its slot from which a probe counts as the prober's lateness; unset:
    # DEFAULT_PROBE_LATE_FRACTION of the interval (1 s at 10 s).
    probe_late_after_s: float | None = Field(None, gt=0, le=3600)
    probe_auth_every_s: float = Field(DEFAULT_PROBE_AUTH_EVERY_S, gt=0, le=7 * 24 * 3600)
    drift_dir: Path = DEFAULT_DRIFT_DIR
    drift_keep_reports: int = Field(DEFAULT_DRIFT_KEEP_REPORTS, ge=1, le=10_000)
    model_change_min_samples: int = Field(DEFAULT_MODEL_CHANGE_MIN_SAMPLES, ge=1, le=1_000_000)
    model_change_share: float = Field(DEFAULT_MODEL_CHANGE_SHARE, gt=0, le=1)
    model_change_tolerance: float = Field(DEFAULT_MODEL_CHANGE_TOLERANCE, ge=0, lt=1)
    defense_at: datetime | None = None
    rules_file: Path | None = None
    service_api_key: SecretStr | None = None
    service_model_dir: Path = DEFAULT_MODEL_DIR
    service_max_body_bytes: int = Field(DEFAULT_SERVICE_MAX_BODY_BYTES, ge=1024)
    service_max_text_chars: int = Field(DEFAULT_SERVICE_MAX_TEXT_CHARS, ge=1)
    # The last N texts asked of the reference service, kept in the database; 0: none kept.
    service_traffic_sample: int = Field(DEFAULT_SERVICE_TRAFFIC_SAMPLE, ge=0, le=100_000)
    log_level: str = "INFO"
    alert_failure_threshold: int = Field(DEFAULT_ALERT_FAILURE_THRESHOLD, ge=1, le=1000)
    alert_success_threshold: int = Field(DEFAULT_ALERT_SUCCESS_THRESHOLD, ge=1, le=1000)
    # Minutes between reminders while an incident stays open; unset: no reminders.
    alert_repeat_min: float | None = Field(None, gt=0, le=7 * 24 * 60)
    # clfwatch's dashboard as its users reach it, for the team-page link in messages.
    public_url: str | None = None
    # The course's registration code for the team API and the Register page; unset: no
    # self-registration (POST /api/v1/teams answers 403).
    registration_code: SecretStr | None = None
    api_port: int = Field(DEFAULT_API_PORT, ge=1, le=65535)
    public_board: bool = False  # GET /api/v1/board answers anyone when true
    # Where self-registered URLs may lead: "public" (public unicast only) and/or CIDR networks.
    self_service_networks: str = DEFAULT_SELF_SERVICE_NETWORKS
    demo_llm_key: SecretStr = SecretStr(DEFAULT_DEMO_LLM_KEY)  # bearer key of `clfwatch service llm`
    demo_llm_port: int = Field(DEFAULT_DEMO_LLM_PORT, ge=1, le=65535)

    @property
    def probe_late_bound_s(self) -> float:
        """Seconds of lateness from which a probe is marked as the prober's, not graded."""
        if self.probe_late_after_s is not None:
            return self.probe_late_after_s
        return DEFAULT_PROBE_LATE_FRACTION * self.probe_interval_s

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// SQLAlchemy URL")
        return value

    @field_validator("alert_repeat_min", "probe_late_after_s", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("prometheus_url", "evidently_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("defense_at")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-12-01T10:00:00+00:00")
        return value

    @field_validator("self_service_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # ValueError names the bad item
        return value

    @property
    def allowed_networks(self) -> AllowedNetworks:
        """The parsed ``CLFWATCH_SELF_SERVICE_NETWORKS``."""
        return parse_networks(self.self_service_networks)

    @field_validator("admin_password", "service_api_key", "registration_code")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; choose a real secret")
        return value

    @field_validator("demo_llm_key")
    @classmethod
    def _demo_key_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty: the demo LLM always demands a key (unset it: default key)")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()


def load_settings() -> Settings:
    """Read the environment; raise SettingsError naming the first bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{ENV_PREFIX}{field.upper()}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
