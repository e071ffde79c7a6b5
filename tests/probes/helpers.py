"""Running a prober in-process for a bounded time, and reading back what it wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.settings import Settings
from probes.runner import Prober
from storage.engine import session_scope
from storage.evalset import replace_eval_set
from storage.models import Probe
from storage.probes import probes_between
from storage.targets import add_target

TEST_INTERVAL_S = 0.5
TEST_TIMEOUT_S = 0.4  # below the interval, as in production (2 s of 10 s)
EVAL_ROWS = [
    ("s-plain", "hello there", 0),
    ("s-quote", 'she said "hi" \\ and left', 1),
    ("s-newline", "line one\nline two\ttab", 0),
    ("s-unicode", "бот? 🤖 {text} {id} </script>", 1),
    ("s-braces", '{"id": "evil"}', 0),
]


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=database_url,
        probe_interval_s=TEST_INTERVAL_S,
        probe_timeout_s=TEST_TIMEOUT_S,
        probe_metrics_port=0,
        probe_spill_dir=tmp_path / "spill",
        probe_concurrency=50,
    )
    values.update(overrides)
    return Settings(**values)


def register(database_url: str, name: str, url: str, **kwargs: Any) -> int:
    with session_scope(database_url) as session:
        return add_target(session, name=name, base_url=url, **kwargs).id


def load_eval(database_url: str) -> None:
    with session_scope(database_url) as session:
        replace_eval_set(session, EVAL_ROWS)


def run_prober(
    settings: Settings,
    seconds: float,
    during: Callable[[Prober], Awaitable[None]] | None = None,
    **kwargs: Any,
) -> Prober:
    """Run a prober for ``seconds`` (or until ``during`` returns), then stop it cleanly."""

    async def main() -> Prober:
        prober = Prober(settings, summary_every_s=1.0, **kwargs)
        stop = asyncio.Event()
        task = asyncio.create_task(prober.run(stop))
        try:
            if during is not None:
                await asyncio.wait_for(during(prober), timeout=seconds + 30)
            else:
                await asyncio.sleep(seconds)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
        return prober

    return asyncio.run(main())


def rows_of(database_url: str, target_id: int, kind: str | None = None) -> list[Probe]:
    """Every probe row of a target, oldest first."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    end = datetime.now(UTC) + timedelta(days=1)
    with session_scope(database_url) as session:
        rows = probes_between(session, target_id, start, end, kind=kind)
    return sorted(rows, key=lambda r: r.started_at)
