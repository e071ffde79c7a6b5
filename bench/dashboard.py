"""Scoreboard page render time with 100 targets and a week of probes in Postgres.

Loads the same data as ``bench/scoring.py`` (its COPY loader and INSERT ... SELECT rollups, into a
database of our own name so the two benchmarks never drop each other's), sets the defense time
to the end of the loaded week, then times in the same run, with Streamlit's AppTest:

* the scoreboard page, cold (every cache and the shared board cleared before each render: the
  first view after the dashboard starts, or after an admin change, grades the whole week),
* the same page warm (the board held in memory, as every later viewer gets it; a board older
  than its TTL is served while it is re-graded behind),
* the same page on an empty, migrated database (the reference: Streamlit's own cost),
* the team page of one target in its two resolutions, cold and warm: the last 6 h (minute buckets
  from the raw probes) and the last 7 days (hour buckets from the rollups), each with the
  heartbeat strip, the latency band, uptime, 200-rate, the ROC curve (and the per-day AUC where a
  day has enough answers). "cold"
  clears every cache (the board is graded again too), "charts cold" only the team page's own
  queries (the board stays warm, as for every viewer after the first).

The team page charts the window that ends now, so the loaded week ends at the start of the run
(``--reuse`` reads the end back from the kept database); a render that shows no latency chart or
says "No ... probes in this window" stops the bench: it would time an empty page.

Prints the medians and their ratios to the empty render; the goal is a loaded scoreboard under
2 s.

    .venv/bin/python bench/dashboard.py [--targets 100] [--days 7] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.engine import engine_for, upgrade_database  # noqa: E402

DB_NAME = "clfwatch_bench_dashboard"
EMPTY_DB_NAME = "clfwatch_bench_dashboard_empty"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
EMPTY_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{EMPTY_DB_NAME}"
APP_PATH = str(ROOT / "dashboard" / "app.py")
TIMED_RUNS = 3
APP_TIMEOUT_S = 120
GOAL_S = 2.0
TEAM = "team-050"
# The team page's windows (hours) on either side of its resolution switch: minutes, then hours.
TEAM_WINDOWS_H = (6, 168)
TEAM_CHART_KEYS = ("heartbeat_strip", "latency_chart", "uptime_chart", "rate200_chart", "roc_chart")


def scoring_bench():  # type: ignore[no-untyped-def]
    """bench/scoring.py as a module, pointed at our own database name."""
    spec = importlib.util.spec_from_file_location("bench_scoring", ROOT / "bench" / "scoring.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DB_NAME = DB_NAME
    module.DSN = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
    module.URL = URL
    # The team page charts the window ending now: load a week ending now, not hour-aligned (edge
    # hours come from raw rows).
    module.AT = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    if module.AT.minute == 0:
        module.AT -= timedelta(minutes=1)
    return module


def kept_end(bench) -> datetime:  # type: ignore[no-untyped-def]
    """The end of the week a kept database holds (its prober session's last beat)."""
    with psycopg.connect(bench.DSN) as conn:
        row = conn.execute("SELECT max(last_seen_at) FROM prober_sessions").fetchone()
    if row is None or row[0] is None:
        raise SystemExit(f"{DB_NAME} holds no loaded week: run without --reuse")
    return row[0].astimezone(UTC)


def recreate(name: str, url: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade_database(url)


def drop(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_defense_time(bench) -> None:  # type: ignore[no-untyped-def]
    """Grade at the end of the loaded week, with the loader's baseline."""
    with psycopg.connect(bench.DSN) as conn:
        conn.execute("DELETE FROM grading_config")
        conn.execute(
            "INSERT INTO grading_config (id, defense_at, baseline_auc, updated_at) VALUES (1, %s, %s, now())",
            (bench.AT, bench.BASELINE_AUC),
        )


def render(url: str, page: str | None = None, query: dict[str, str] | None = None, *,
           cold: bool | str = True, window_h: int | None = None) -> tuple[float, object]:
    """One render of a page with AppTest, in seconds.

    ``cold`` True clears every cache first; "charts" only the team page's own queries.
    ``window_h`` picks the team page's window (its radio) before the timed run.
    """
    import streamlit as st
    import streamlit.logger
    from streamlit.testing.v1 import AppTest

    streamlit.logger.set_log_level("error")  # bare-mode warnings on every render drown the numbers

    from core.settings import get_settings
    from dashboard.db import clear_caches

    os.environ["CLFWATCH_DATABASE_URL"] = url
    get_settings.cache_clear()
    at = AppTest.from_file(APP_PATH, default_timeout=APP_TIMEOUT_S)
    if page is not None:
        at.run()
        at.switch_page(f"app_pages/{page}.py")
        for key, value in (query or {}).items():
            at.query_params[key] = value
        if window_h is not None:
            at.run()
            at.radio(key="team_window").set_value(window_h)
    if cold == "charts":
        from dashboard import team_charts, team_history

        team_charts.team_charts.clear()
        team_history.team_view.clear()
    elif cold:
        clear_caches()
        st.cache_data.clear()
    t0 = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t0
    failures = [e.value for e in at.error if not str(e.value).startswith("Down now:")]
    if at.exception or failures:
        raise RuntimeError(f"page {page or 'scoreboard'} failed: {failures}")
    if page == "team":
        check_team_charts(at, window_h)
    return elapsed, at


def check_team_charts(at, window_h: int | None) -> None:  # type: ignore[no-untyped-def]
    """Stop when the team page did not chart the loaded probes: the timing would be of an empty page."""
    keys = {getattr(c.proto, "id", "") for c in at.get("plotly_chart")}
    missing = [k for k in TEAM_CHART_KEYS if not any(k in key for key in keys)]
    empty = [i.value for i in at.info if "probes" in str(i.value) and "window" in str(i.value)]
    resolution = "per minute" if (window_h or 24) <= 6 else "per hour"
    if missing or empty or not any(resolution in str(c.value) for c in at.caption):
        raise RuntimeError(f"team page, {window_h} h: missing charts {missing}, empty {empty}, "
                           f"not charted {resolution}")


def timed(url: str, page: str | None = None, query: dict[str, str] | None = None, *,
          cold: bool | str = True, window_h: int | None = None) -> list[float]:
    # warm up imports, the engine, plan caches (and, if warm, the board and the charts)
    render(url, page, query, window_h=window_h)
    return [render(url, page, query, cold=cold, window_h=window_h)[0] for _ in range(TIMED_RUNS)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--reuse", action="store_true", help="skip loading: reuse a kept database")
    args = parser.parse_args()
    bench = scoring_bench()
    try:
        if not args.reuse:
            print(f"loading {args.targets} targets x {args.days:g} days into {DB_NAME} ...", flush=True)
            recreate(DB_NAME, URL)
            rows = bench.load(args.targets, args.days)
        else:
            bench.AT = kept_end(bench)
            with psycopg.connect(bench.DSN) as conn:
                row = conn.execute("SELECT count(*) FROM probes").fetchone()
                rows = int(row[0]) if row else 0
        set_defense_time(bench)
        recreate(EMPTY_DB_NAME, EMPTY_URL)
        print("timing the scoreboard page, empty database ...", flush=True)
        empty = timed(EMPTY_URL)
        print("timing the scoreboard page, loaded database, cold ...", flush=True)
        loaded = timed(URL)
        print("timing the scoreboard page, loaded database, warm ...", flush=True)
        warm = timed(URL, cold=False)
        _, at = render(URL, cold=False)
        shown = len(at.dataframe[0].value)  # type: ignore[attr-defined]
        team: dict[str, list[float]] = {}
        for window_h in TEAM_WINDOWS_H:
            print(f"timing the team page, last {window_h} h, loaded database ...", flush=True)
            for mode, cold in (("cold", True), ("charts cold", "charts"), ("warm", False)):
                team[f"team page, {window_h} h, {mode}"] = timed(URL, "team", {"target": TEAM}, cold=cold,
                                                                 window_h=window_h)
    finally:
        engine_for(URL).dispose()
        engine_for(EMPTY_URL).dispose()
        drop(EMPTY_DB_NAME)
        if not args.keep:
            drop(DB_NAME)
    median_loaded, median_empty, median_warm = (statistics.median(x) for x in (loaded, empty, warm))

    def line(label: str, times: list[float]) -> str:
        median = statistics.median(times)
        return (f"{label:<34} median {median:6.3f} s  ({', '.join(f'{t:.3f}' for t in times)})  "
                f"{median / median_empty:5.1f}x the empty render")

    print()
    print(f"data: {args.targets} targets, {rows:,} probe rows, {args.days:g} days; {shown} rows shown")
    print(line("scoreboard page, empty DB", empty))
    print(line("scoreboard page, loaded, cold", loaded))
    print(line("scoreboard page, loaded, warm", warm))
    print(f"team page of {TEAM}, data ending {bench.AT:%Y-%m-%d %H:%M} UTC ({TEAM_WINDOWS_H[0]} h: minute "
          f"buckets from raw probes; {TEAM_WINDOWS_H[1]} h: hours from rollups):")
    for label, times in team.items():
        print(line(label, times))
    cold_ok, warm_ok = median_loaded < GOAL_S, median_warm < GOAL_S
    print(f"goal (< {GOAL_S:g} s, every target shown): cold {'met' if cold_ok else 'NOT met'}, "
          f"warm {'met' if warm_ok else 'NOT met'}")
    return 0 if warm_ok and shown == args.targets else 1


if __name__ == "__main__":
    raise SystemExit(main())
