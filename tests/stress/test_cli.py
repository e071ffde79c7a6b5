"""``clfwatch stress run``: JSON document, exit codes, refusal, storage, Ctrl-C.

Real processes where the process is the point: stdout holding exactly the JSON document
(exit 0), a dead target's one line on stderr and exit 2, a registered target's token never
printed, Ctrl-C to a process started with SIGINT ignored (exit 130). On SQLite: on Postgres
the same runs check what is stored. What a command computes (verdicts, refusals, usage
errors, tables) runs ``cli.main`` in this process (``tests.clfwatch.inproc``): the same code
without the 0.6 CPU-s of a new interpreter's imports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from storage.engine import session_scope
from storage.stress import list_stress_runs
from storage.targets import add_target
from stress.preflight import PREFLIGHT_ROW
from stress.runner import run_stress
from stress.scenarios import SCENARIO_NAMES
from tests.clfwatch.inproc import clfwatch_in_process
from tests.conftest import REPO_ROOT
from tests.servers import free_port, stop_group, uvicorn_thread
from tests.stress.apps import healthy_app, naive_app, silent_server

CLI = [sys.executable, "-m", "clfwatch.cli", "stress", "run"]
TOKEN = "tok-3f9a7c1e-never-printed"


def clfwatch(
    args: list[str], env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s
    )


def in_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``clfwatch stress run`` in this process: for what the command computes."""
    return clfwatch_in_process(env, "stress", "run", *args)


Run = Callable[[list[str], dict[str, str]], subprocess.CompletedProcess[str]]


def real_on_sqlite(database_url: str) -> Run:
    """The real process on SQLite; on Postgres the same command in this process (the backend
    changes what is stored, not what the process does)."""
    return clfwatch if database_url.startswith("sqlite") else in_process


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
    command = real_on_sqlite(db_url)
    out = command([healthy_url, "--only", "malformed_json,contract", "--format", "json"], cli_env)
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
        out = in_process([url, "--only", "malformed_json", "--format", "json"], env_for(sqlite_url))
    assert out.returncode == 1, out.stderr
    document = json.loads(out.stdout)
    result = document["results"][0]
    assert result["passed"] is False and document["score"] == 0
    assert "server error 500" in result["evidence"]["first_failure"]["reason"]
    assert result["evidence"]["first_failure"]["curl"]
    assert "FAIL  malformed_json" in out.stderr


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080", "https://example.com", "http://127.0.0.1.nip.io:80"])
def test_unregistered_non_loopback_url_is_refused(sqlite_url: str, url: str) -> None:
    out = in_process([url, "--only", "contract"], env_for(sqlite_url))
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
    out = in_process(args, env_for(sqlite_url))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


# The bound for a run against a target that does not answer, on the run's own clock
# (started_at to finished_at as stored): the interpreter's start-up on a busy machine is not the
# runner's and may take longer by itself.
NO_ANSWER_WALL_S = 10.0


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_dead_port_stops_with_one_line_fast_and_stores_no_scenario(
    cli_env: dict[str, str], db_url: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = real_on_sqlite(db_url)([url], cli_env)
    assert out.returncode == 2, out.stderr
    line = _one_line(out.stderr)
    assert line.startswith("clfwatch: error: ") and url in line and "connection refused" in line
    assert out.stdout == ""
    with session_scope(db_url) as session:
        (run,) = list_stress_runs(session)
        assert run.status == "failed" and run.score == 0 and run.finished_at is not None
        assert (run.finished_at - run.started_at).total_seconds() < NO_ANSWER_WALL_S
        assert [r.scenario for r in run.results] == [PREFLIGHT_ROW]  # the reason, no scenario row
        assert not {r.scenario for r in run.results} & set(SCENARIO_NAMES)
        evidence = run.results[0].evidence
        assert line.endswith(evidence["summary"])
        assert evidence["answered"] == 0 and evidence["refused"] == evidence["requests"] > 1  # a few tries


def test_silent_target_stops_with_timed_out_and_json_document(sqlite_url: str) -> None:
    with silent_server() as url:
        out = in_process([url, "--format", "json"], env_for(sqlite_url))
    assert out.returncode == 2, out.stderr
    line = _one_line(out.stderr)
    assert url in line and "timed out" in line
    document = json.loads(out.stdout)
    took = datetime.fromisoformat(document["finished_at"]) - datetime.fromisoformat(document["started_at"])
    assert took.total_seconds() < NO_ANSWER_WALL_S
    assert document["status"] == "failed" and document["results"] == [] and document["score"] == 0
    assert line.endswith(document["error"])


def test_any_http_answer_counts_as_answering(sqlite_url: str) -> None:
    """A target answering 404 to everything answers: the scenarios run (and judge it)."""
    from fastapi import FastAPI

    with uvicorn_thread(FastAPI(), timeout_graceful_shutdown=1) as url:
        out = in_process([url, "--only", "contract", "--format", "json"], env_for(sqlite_url))
    assert out.returncode == 1, out.stderr
    document = json.loads(out.stdout)
    assert document["status"] == "finished" and document["error"] is None
    (result,) = document["results"]
    assert result["scenario"] == "contract" and result["passed"] is False
    assert result["evidence"]["answered"] == result["evidence"]["requests"] > 0
    assert result["evidence"]["status_counts"].get("404", 0) > 0


def test_runner_api_records_a_failed_run_with_the_reason(db_url: str) -> None:
    """What the dashboard's launcher relies on: the stored run says why it failed."""
    url = f"http://127.0.0.1:{free_port()}"
    seen: list[str] = []
    report = run_stress(url, database_url=db_url, on_result=lambda r: seen.append(r.scenario))
    assert report.status == "failed" and report.results == [] and seen == []
    assert report.error is not None and url in report.error and "connection refused" in report.error
    assert "\n" not in report.error
    with session_scope(db_url) as session:
        (run,) = list_stress_runs(session)
        assert (run.id, run.status) == (report.run_id, "failed")
        assert [(r.scenario, r.passed, r.evidence["summary"]) for r in run.results] == [
            (PREFLIGHT_ROW, False, report.error)
        ]


def test_table_separates_answered_refused_and_timeouts(sqlite_url: str, healthy_url: str) -> None:
    out = in_process([healthy_url, "--only", "contract"], env_for(sqlite_url))
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if line.startswith("scenario"))
    columns = ["scenario", "verdict", "requests", "answered", "refused", "timeouts", "other"]
    assert header.split()[:7] == columns


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
