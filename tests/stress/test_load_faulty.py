"""Load scenarios (Locust in subprocesses) against faulty servers whose failure a busy machine
cannot turn into a pass: a server that sheds load, serializes requests or caps its connections
fails whatever else runs beside it. They run in the serial step (conftest.SERIAL_MODULES), not
alone like test_load.py, whose healthy servers must pass.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.servers import uvicorn_thread
from tests.stress.apps import raw_server, serialized_slow_app, shedding_app
from tests.stress.test_load import run


def _uvicorn(factory: Callable[[], Any]) -> Callable[[], AbstractContextManager[str]]:
    return lambda: uvicorn_thread(factory(), timeout_graceful_shutdown=1)


FAULTY: list[tuple[str, Callable[[], AbstractContextManager[str]], str]] = [
    ("spike", _uvicorn(lambda: shedding_app(max_in_flight=2)), "valid 200s"),
    ("spike", _uvicorn(serialized_slow_app), "p95"),
    ("slow_clients", lambda: raw_server(max_connections=8), "slow/idle connections open"),
]


@pytest.mark.parametrize(
    ("name", "server", "reason"), FAULTY, ids=["shedding", "serialized", "connection-limited"]
)
def test_faulty_server_fails(
    name: str, server: Callable[[], AbstractContextManager[str]], reason: str
) -> None:
    with server() as url:
        result = run(name, url)
    evidence = result.to_dict()["evidence"]
    assert not result.passed, evidence
    assert reason in evidence["summary"], evidence["summary"]
    assert evidence["first_failure"] is not None
    assert evidence["first_failure"]["curl"].startswith("curl ")


def test_no_clfwatch_module_imports_locust() -> None:
    """Locust monkey-patches with gevent on import: only stress.locust_job (a subprocess) may import it."""
    code = (
        "import sys, clfwatch.cli, stress.runner, stress.load, stress.scenarios, stress.crafted\n"
        "clfwatch.cli.build_parser()\n"
        "bad = [m for m in ('locust', 'gevent') if m in sys.modules]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
