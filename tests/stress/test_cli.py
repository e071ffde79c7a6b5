"""``clfwatch stress run`` in a real subprocess: JSON document, exit codes, refusal, storage, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.engine import session_scope
from storage.stress import list_stress_runs
from storage.targets import add_target
from tests.conftest import REPO_ROOT
from tests.servers import stop_group, uvicorn_thread
from tests.stress.apps import healthy_app, naive_app

CLI = [sys.executable, "-m", "clfwatch.cli", "stress", "run"]
TOKEN = "tok-3f9a7c1e-never-printed"


def clfwatch(
    args: list[str], env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s
    )


def env_for(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = database_url
    return env


@pytest.fixture(scope="module")
def healthy_url() -> Iterator[str]:
    with uvicorn_thread(healthy_app(), timeout_graceful_shutdown=1) as url:
        yield url


def test_json_document_stored_run_and_exit_zero(
    cli_env: dict[str, str], db_url: str, healthy_url: str
) -> None:
    out = clfwatch([healthy_url, "--only", "malformed_json,contract", "--format", "json"], cli_env)
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)  # stdout is exactly one JSON document
    assert {"target", "started_at", "score", "results"} <= set(document)
    assert document["target"] == healthy_url and document["score"] == 2 and document["status"] == "finished"
    assert [r["scenario"] for r in document["results"]] == ["contract", "malformed_json"]
    for result in document["results"]:
        assert set(result) == {"scenario", "passed", "evidence"} and result["passed"] is True
        assert {"status_counts", "latency_ms", "first_failure", "requests"} <= set(result["evidence"])
    assert "PASS  contract" in out.stderr and "PASS  malformed_json" in out.stderr  # progress on stderr
    with session_scope(db_url) as session:
        runs = list_stress_runs(session)
        assert len(runs) == 1
        run = runs[0]
        assert (run.id, run.status, run.score, run.target_id) == (document["run_id"], "finished", 2, None)
        assert [r.scenario for r in run.results] == ["contract", "malformed_json"]
        assert run.results[0].evidence["summary"] == document["results"][0]["evidence"]["summary"]


def test_a_failed_scenario_exits_non_zero_with_evidence(sqlite_url: str) -> None:
    with uvicorn_thread(naive_app(), timeout_graceful_shutdown=1) as url:
        out = clfwatch([url, "--only", "malformed_json", "--format", "json"], env_for(sqlite_url))
    assert out.returncode == 1, out.stderr
    document = json.loads(out.stdout)
    result = document["results"][0]
    assert result["passed"] is False and document["score"] == 0
    assert "server error 500" in result["evidence"]["first_failure"]["reason"]
    assert result["evidence"]["first_failure"]["curl"]
    assert "FAIL  malformed_json" in out.stderr


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080", "https://example.com", "http://127.0.0.1.nip.io:80"])
def test_unregistered_non_loopback_url_is_refused(sqlite_url: str, url: str) -> None:
    out = clfwatch([url, "--only", "contract"], env_for(sqlite_url))
    assert out.returncode == 2
    assert "refusing to stress" in out.stderr and "loopback" in out.stderr
    assert "Traceback" not in out.stderr
    with session_scope(sqlite_url) as session:
        assert list_stress_runs(session) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-team"], "no target named"),
        (["http://127.0.0.1:1", "--only", "nope"], "unknown scenario"),
        (["http://127.0.0.1:1", "--bar", "nope=1"], "unknown bar"),
        (["http://127.0.0.1:1", "--workers", "99"], "workers must be"),
    ],
)
def test_bad_arguments_are_one_line_errors(sqlite_url: str, args: list[str], message: str) -> None:
    out = clfwatch(args, env_for(sqlite_url))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_registered_target_by_name_in_table_format(sqlite_url: str, healthy_url: str) -> None:
    with session_scope(sqlite_url) as session:
        target_id = add_target(session, name="team-a", base_url=healthy_url, token=TOKEN).id
    out = clfwatch(["team-a", "--only", "contract"], env_for(sqlite_url))
    assert out.returncode == 0, out.stderr
    assert "PASS  contract" in out.stdout and "score 1/10 for team-a (finished)" in out.stdout
    assert TOKEN not in out.stdout + out.stderr
    with session_scope(sqlite_url) as session:
        run = list_stress_runs(session)[0]
        assert run.target_id == target_id and run.target_url == healthy_url
        assert TOKEN not in json.dumps([r.evidence for r in run.results])


def _locust_children(pid: int) -> list[int]:
    """Locust subprocesses started by ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"stress.locust_job" in cmdline:
            found.append(int(entry.name))
    return found


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_keeps_finished_results_and_marks_the_run_interrupted(
    sqlite_url: str, healthy_url: str
) -> None:
    proc = subprocess.Popen(
        [
            *CLI,
            healthy_url,
            "--only",
            "contract,spike",
            "--bar",
            "spike_duration_s=60",
            "--bar",
            "spike_users=3",
        ],
        env=env_for(sqlite_url),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # As a shell starts a background job (CI may): SIGINT ignored. Ctrl-C must still work.
        preexec_fn=_ignore_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while not children and time.monotonic() < deadline:  # contract done, spike's Locust running
            time.sleep(0.2)
            children = _locust_children(proc.pid)
        assert children, "the spike's Locust subprocess never started"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        stop_group(proc)  # type: ignore[arg-type]
    assert proc.returncode == 130, stderr
    assert "PASS  contract" in stdout and "interrupted" in stderr
    for child in children:
        assert (
            not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
        )
    with session_scope(sqlite_url) as session:
        run = list_stress_runs(session)[0]
        assert run.status == "interrupted" and run.finished_at is not None
        assert [r.scenario for r in run.results] == ["contract"] and run.score == 1
