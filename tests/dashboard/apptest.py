"""Helpers for driving the dashboard with Streamlit's AppTest and reading what it shows."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP_PATH, APP_TIMEOUT_S

TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "info", "error", "success",
                 "warning", "code", "metric", "exception")


def open_page(page: str | None = None) -> AppTest:
    """Run the app (its default page is the scoreboard), then switch to ``app_pages/<page>.py``."""
    at = AppTest.from_file(APP_PATH, default_timeout=APP_TIMEOUT_S)
    at.run()
    if page is not None:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


def shown_text(at: AppTest) -> str:
    """The text a person reads: headings, markdown, alerts, code, metrics, tables (as CSV)."""
    parts: list[str] = []
    for kind in TEXT_ELEMENTS:
        for element in getattr(at, kind):
            if kind == "metric":
                parts.append(f"{element.label}: {element.value}")
            elif kind == "exception":
                parts.append(f"EXCEPTION {element.message}")
            else:
                parts.append(str(element.value))
    for frame in at.dataframe:
        parts.append(frame.value.to_csv(index=False))
    for expander in at.expander:
        parts.append(str(expander.label))
    return "\n".join(parts)


def everything_rendered(at: AppTest) -> str:
    """Every element's protobuf as text: widget defaults, chart specs, tables — for "never shown" checks."""
    parts = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    return "\n".join(parts)


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    """The one button (form submit buttons included) with this label."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"expected one button {label!r}, found {[b.label for b in at.button]}"
    return found[0]
