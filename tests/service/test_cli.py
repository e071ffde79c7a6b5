"""``clfwatch service train | serve | gen-data`` as a user runs them: real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.data import DATA_DIR, EVAL_FILE, SUBMISSION_FILE, TRAIN_FILE
from service.model import METADATA_FILE, MODEL_FILE, load_model, read_labelled_csv
from tests.conftest import REPO_ROOT, free_port
from tests.servers import process

CLFWATCH = str(Path(sys.executable).with_name("clfwatch"))
MARKER = "CLI-MARK3R secret message text"
CLI_TIMEOUT_S = 120


def _env(model_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_SERVICE_MODEL_DIR"] = str(model_dir)
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLFWATCH, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S)


@pytest.mark.slow  # trains the model again (tens of seconds of CPU)
def test_train_is_reproducible(trained_model_dir: Path, tmp_path: Path) -> None:
    """Same seed, same data: the CLI's model has the fixture's metrics, version and predictions."""
    run = _run(["service", "train"], _env(tmp_path / "model"))
    assert run.returncode == 0, run.stderr
    assert "held-out ROC-AUC 0.9" in run.stdout
    written = json.loads((tmp_path / "model" / METADATA_FILE).read_text())
    expected = json.loads((trained_model_dir / METADATA_FILE).read_text())
    assert (tmp_path / "model" / MODEL_FILE).is_file()
    assert written["metrics"] == expected["metrics"]
    assert written["version"] == expected["version"]
    assert written["data_sha256"] == expected["data_sha256"]
    texts, _ = read_labelled_csv(DATA_DIR / EVAL_FILE)
    ours, theirs = load_model(trained_model_dir), load_model(tmp_path / "model")
    assert [ours.probability(t) for t in texts[:100]] == [theirs.probability(t) for t in texts[:100]]


def test_gen_data_regenerates_the_shipped_files(tmp_path: Path) -> None:
    run = _run(["service", "gen-data", "--out", str(tmp_path)], _env(tmp_path))
    assert run.returncode == 0, run.stderr
    for name in (TRAIN_FILE, EVAL_FILE, SUBMISSION_FILE):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes()


@pytest.mark.parametrize(("args", "needle"), [
    (["service", "serve", "--port", str(65000)], "clfwatch service train"),  # no model in the folder
    (["service", "serve", "--workers", "0"], "--workers"),
    (["service", "serve", "--port", "70000"], "--port"),
])
def test_serve_refuses_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    run = _run(args, _env(tmp_path / "empty"))
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert needle in lines[0]
    assert "Traceback" not in run.stderr


@pytest.mark.slow  # real uvicorn worker processes, each loading the model
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_logs_without_the_text(
    trained_model_dir: Path, tmp_path: Path, workers: int
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    cmd = [CLFWATCH, "service", "serve", "--port", str(port), "--workers", str(workers)]
    env = _env(trained_model_dir)
    with process(cmd, ready_url=f"{url}/health", env=env, log_path=log_path, cwd=REPO_ROOT, timeout_s=60):
        r = httpx.post(f"{url}/predict", json={"id": "cli", "text": MARKER},
                       headers={"X-Request-ID": "cli-req-7"})
        assert r.status_code == 200
        assert r.json()["id"] == "cli"
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        assert httpx.get(f"{url}/metrics").status_code == 200
    log = log_path.read_text()
    assert "request_id=cli-req-7 method=POST path=/predict status=200 latency_ms=" in log
    assert "MARK3R" not in log
    assert "Traceback" not in log
