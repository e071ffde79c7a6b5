"""``clfwatch service llm``: the demo LLM as `make up` starts it, a real process on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from core.settings import DEFAULT_DEMO_LLM_KEY
from tests.servers import free_port, process

REPO_ROOT = Path(__file__).resolve().parents[2]
CLFWATCH = [sys.executable, "-m", "clfwatch.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


def test_serves_with_the_key_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [*CLFWATCH, "service", "llm", "--port", str(port), "--ttft-ms", "1", "--itl-ms", "1"]
    env = _env(CLFWATCH_DEMO_LLM_KEY="cli-test-key-77")
    with process(cmd, ready_url=f"{url}/health", env=env, cwd=REPO_ROOT, log_path=tmp_path / "llm.log"):
        ours = httpx.get(f"{url}/v1/models", headers={"authorization": "Bearer cli-test-key-77"})
        assert ours.status_code == 200
        default = httpx.get(f"{url}/v1/models", headers={"authorization": f"Bearer {DEFAULT_DEMO_LLM_KEY}"})
        assert default.status_code == 401
    log = (tmp_path / "llm.log").read_text()
    assert "event=demo_llm_start" in log and "cli-test-key-77" not in log


def test_refuses_an_empty_key_and_a_bad_port() -> None:
    empty = subprocess.run([*CLFWATCH, "service", "llm"], env=_env(CLFWATCH_DEMO_LLM_KEY=" "), cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 2 and "CLFWATCH_DEMO_LLM_KEY" in empty.stderr
    port = subprocess.run([*CLFWATCH, "service", "llm", "--port", "70000"], env=_env(), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert port.returncode != 0 and "--port must be 0-65535" in port.stderr
