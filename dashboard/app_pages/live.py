"""Live: request rate, error share and p95 latency of the reference service and the prober."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import ui
from dashboard.live import DEFAULT_MINUTES, LiveError, LiveMetrics, SourceMetrics, fetch_live

LIVE_TTL_S = 10
WINDOW_CHOICES_MIN = (5, DEFAULT_MINUTES, 60, 180)
OFF_TEXT = (
    "Live metrics are off: set CLFWATCH_PROMETHEUS_URL to a Prometheus that scrapes the service "
    "and the prober (jobs \"service\" and \"prober\")."
)
SOURCE_TITLES = {"service": "Reference service", "prober": "Prober"}
RATE_LABELS = {"service": "request rate", "prober": "probe rate"}
ERROR_LABELS = {"service": "error rate (5xx share)", "prober": "failed-probe share"}


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_live(prometheus_url: str, minutes: int) -> LiveMetrics:
    return fetch_live(prometheus_url, minutes=minutes)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value * 100:.1f} %"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} {unit}"


def _chart(frame: pd.DataFrame, title: str, y_label: str, scale: float = 1.0) -> None:
    shown = frame.assign(value=frame["value"] * scale)
    fig = px.line(shown, x="time", y="value", title=title, labels={"time": "", "value": y_label})
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    st.plotly_chart(fig, width="stretch")


def render_source(source: SourceMetrics) -> None:
    title = SOURCE_TITLES.get(source.name, source.name)
    st.subheader(title)
    if not source.has_data:
        st.caption(f"No samples in this window yet: is Prometheus scraping the {source.name}?")
        return
    rate_label = f"{title} {RATE_LABELS[source.name]}"
    error_label = f"{title} {ERROR_LABELS[source.name]}"
    p95_label = f"{title} p95 latency"
    first, second, third = st.columns(3)
    first.metric(rate_label, _number(source.current_request_rate_per_s, "req/s"))
    second.metric(error_label, _number(source.current_error_share, "%"))
    third.metric(p95_label, _number(source.current_p95_latency_s, "ms"))
    first, second, third = st.columns(3)
    with first:
        _chart(source.request_rate_per_s, rate_label, "per second")
    with second:
        _chart(source.error_share, error_label, "%", scale=100.0)
    with third:
        _chart(source.p95_latency_s, p95_label, "ms", scale=1000.0)


st.title("Live")
settings = ui.page_settings()
if settings is None:
    st.stop()
if not settings.prometheus_url:
    st.info(OFF_TEXT)
    st.stop()

left, right = st.columns([3, 1])
minutes = left.selectbox(
    "Window", WINDOW_CHOICES_MIN, index=WINDOW_CHOICES_MIN.index(DEFAULT_MINUTES),
    format_func=lambda m: f"last {m} min", key="live_minutes",
)
if right.button("Refresh", key="live_refresh"):
    load_live.clear()
try:
    live = load_live(settings.prometheus_url, int(minutes))
except LiveError as exc:
    st.warning(str(exc))
    st.stop()
except Exception as exc:  # noqa: BLE001 - shown as a short message, details in the log
    ui.show_error(exc)
    st.stop()

st.caption(f"From Prometheus, rates over one minute; updated {ui.time_text(live.fetched_at)}.")
for name in ("service", "prober"):
    render_source(live.sources[name])
