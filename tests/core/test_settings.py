"""Settings: defaults, and a bad value names its variable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CLFWATCH_"):
            monkeypatch.delenv(key)


def test_defaults_are_the_design_defaults() -> None:
    s = load_settings()
    assert s.database_url == DEFAULT_DATABASE_URL == "sqlite:///./clfwatch.db"
    assert (s.probe_interval_s, s.probe_timeout_s, s.probe_metrics_port) == (10.0, 2.0, 9101)
    assert s.admin_password is None and s.prometheus_url is None and s.evidently_url is None
    assert s.evidently_project == "clfwatch-drift"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLFWATCH_PROBE_INTERVAL_S", "0"),
        ("CLFWATCH_PROBE_INTERVAL_S", "ten"),
        ("CLFWATCH_PROBE_TIMEOUT_S", "-1"),
        ("CLFWATCH_PROBE_METRICS_PORT", "70000"),
        ("CLFWATCH_DATABASE_URL", "mysql://x"),
        ("CLFWATCH_PROMETHEUS_URL", "localhost:9090"),
        ("CLFWATCH_DEFENSE_AT", "2026-12-01T10:00:00"),
        ("CLFWATCH_DEFENSE_AT", "next tuesday"),
        ("CLFWATCH_ADMIN_PASSWORD", "changethis"),
        ("CLFWATCH_LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith(f"{variable}:")


def test_secret_values_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLFWATCH_ADMIN_PASSWORD", "s3cret-Value-42")
    s = load_settings()
    assert "s3cret-Value-42" not in repr(s)
    assert s.admin_password is not None and s.admin_password.get_secret_value() == "s3cret-Value-42"


def test_zoned_defense_time_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLFWATCH_DEFENSE_AT", "2026-12-01T10:00:00+03:00")
    # The same instant as 07:00 UTC, zone kept: a loader that dropped or replaced the zone moves it.
    assert load_settings().defense_at == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert load_settings().defense_at.utcoffset() == timedelta(hours=3)  # type: ignore[union-attr]
