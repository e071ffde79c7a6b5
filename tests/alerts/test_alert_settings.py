"""The alert settings: defaults, and a bad value names its variable."""

from __future__ import annotations

import os

import pytest

from core.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CLFWATCH_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = load_settings()
    assert (s.alert_failure_threshold, s.alert_success_threshold) == (3, 2)
    assert s.alert_repeat_min is None and s.public_url is None


def test_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLFWATCH_ALERT_FAILURE_THRESHOLD", "5")
    monkeypatch.setenv("CLFWATCH_ALERT_SUCCESS_THRESHOLD", "1")
    monkeypatch.setenv("CLFWATCH_ALERT_REPEAT_MIN", "30")
    monkeypatch.setenv("CLFWATCH_PUBLIC_URL", "https://clfwatch.example/")
    s = load_settings()
    assert (s.alert_failure_threshold, s.alert_success_threshold, s.alert_repeat_min) == (5, 1, 30.0)
    assert s.public_url == "https://clfwatch.example"


def test_an_empty_repeat_means_no_reminders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLFWATCH_ALERT_REPEAT_MIN", "")  # as compose passes an unset variable
    assert load_settings().alert_repeat_min is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLFWATCH_ALERT_FAILURE_THRESHOLD", "0"),
        ("CLFWATCH_ALERT_SUCCESS_THRESHOLD", "many"),
        ("CLFWATCH_ALERT_REPEAT_MIN", "-5"),
        ("CLFWATCH_PUBLIC_URL", "clfwatch.example"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith(f"{variable}:")
