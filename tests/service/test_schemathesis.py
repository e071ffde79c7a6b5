"""Schemathesis (a suite none of us wrote) against the app's own OpenAPI schema: zero failures.

It runs as its CLI in a subprocess against the real uvicorn, with every check it has, including
``not_a_server_error``, ``response_schema_conformance``, ``negative_data_rejection`` and, on the
keyed service, ``ignored_auth``. Bounded by ``--max-examples`` and a wall-clock timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reference import reference_service

MAX_EXAMPLES = 40
RUN_TIMEOUT_S = 150
ST = str(Path(sys.executable).with_name("st"))
API_KEY = "tok-schemathesis-5d2b8e"


@pytest.mark.parametrize("api_key", [None, API_KEY], ids=["open", "keyed"])
def test_schemathesis_finds_no_failures(trained_model_dir: Path, tmp_path: Path, api_key: str | None) -> None:
    with reference_service(trained_model_dir, api_key=api_key) as url:
        cmd = [ST, "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
               "--request-timeout", "10", "--no-color"]
        if api_key:
            cmd += ["--header", f"Authorization: Bearer {api_key}"]
        env = {**os.environ, "NO_COLOR": "1"}
        run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT_S)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "No issues found" in output, output[-6000:]
    assert "2 selected / 2 total" in output  # /predict and /health were both tested
