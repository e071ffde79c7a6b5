"""``make up`` end to end, in a fresh copy of the repository, then Ctrl-C.

The copy holds the working tree (tracked and untracked-but-not-ignored files, so uncommitted
work is tested too) and reuses the installed virtualenv through a symlink; make is told the
install stamp is up to date, so nothing is reinstalled into the shared venv. It gets its own
SQLite file and free ports, must bring up the dashboard, the service, the prober, the Evidently UI
and Prometheus (whose target list must show the service, the prober and the team API up), must see
probe rows for the reference service, the two demo targets and the demo LLM (registered as an
openai-chat target with its key), and after SIGINT to its process group (what a terminal
sends on Ctrl-C) must leave no process behind and nothing listening beyond loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from clfwatch.up import prepare
from core.settings import DEFAULT_DEMO_LLM_KEY
from service.llm_demo import DEMO_MODEL
from storage.engine import engine_for, session_scope
from storage.evalset import eval_count
from storage.targets import list_targets
from storage.windows import last_probe_times
from tests.conftest import REPO_ROOT, free_port

START_TIMEOUT_S = 150.0  # training the model and streamlit's first start on a busy 2-core box
PROBE_ROWS_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 40.0
LOOPBACK_V4 = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
TCP_LISTEN = "0A"


def copy_worktree(src: Path, dst: Path) -> None:
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=src, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        source = src / rel
        if not source.is_file():  # deleted in the working tree but still in the index
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (dst / ".venv").symlink_to(src / ".venv")


def processes_under(root: Path) -> dict[int, str]:
    """Every process whose working directory or command line is inside ``root``."""
    found: dict[int, str] = {}
    marker = str(root)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd.startswith(marker) or marker in cmdline):
            found[int(entry.name)] = cmdline.strip()
    return found


def listening_sockets(pids: list[int]) -> list[tuple[str, int]]:
    """(address as /proc writes it, port) of every TCP socket the processes listen on."""
    inodes: set[str] = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            for fd in fd_dir.iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == TCP_LISTEN and fields[9] in inodes:
                found.append((address, int(port_hex, 16)))
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def distinct_free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def wait_until(check, timeout_s: float, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"make up exited with {proc.returncode} before {what}:\n{log.read_text()[-4000:]}")
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} not within {timeout_s:.0f} s; make up said:\n{log.read_text()[-4000:]}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_make_up(
    repo: Path, env: dict[str, str], ports: dict[str, int], log: Path
) -> subprocess.Popen[bytes]:
    """``make up`` in its own process group, as a terminal would run it; the install is skipped."""
    up_args = " ".join(f"--{flag}-port {port}" for flag, port in ports.items())
    with open(log, "ab") as out:
        return subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed-stamp", "up", f"UP_ARGS={up_args}"],
            cwd=repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def prometheus_jobs_up(url: str) -> set[str]:
    """Job names of the scrape targets Prometheus last scraped successfully."""
    try:
        targets = httpx.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError):
        return set()
    return {t["labels"]["job"] for t in targets if t["health"] == "up"}


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_gone(repo: Path) -> None:
    deadline = time.monotonic() + 5
    while processes_under(repo) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_under(repo) == {}


def target_state(db_url: str) -> tuple[dict[str, str], set[str], int]:
    """(name -> URL, names with probe rows, number of eval samples)."""
    with session_scope(db_url) as session:
        views = list_targets(session)
        names = {v.id: v.name for v in views}
        probed = {names[t] for t in last_probe_times(session, datetime.now(UTC))}
        return {v.name: v.base_url for v in views}, probed, eval_count(session)


DEMO_TARGETS = {prepare.REFERENCE_TARGET, prepare.SLOW_TARGET, prepare.FLAKY_TARGET, prepare.LLM_TARGET}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_make_up_runs_everything_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_worktree(REPO_ROOT, repo)
    service, slow, flaky, metrics, dashboard, slow_moved, api, evidently, prom, llm = distinct_free_ports(10)
    ports = {  # every port by flag: other servers run on this machine, 8502 and 9090 may be taken
        "service": service,
        "slow": slow,
        "flaky": flaky,
        "llm": llm,
        "prober-metrics": metrics,
        "dashboard": dashboard,
        "api": api,
        "evidently": evidently,
        "prometheus": prom,
    }
    db_url = f"sqlite:///{tmp_path / 'up.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env.update(CLFWATCH_DATABASE_URL=db_url, CLFWATCH_PROBE_INTERVAL_S="1", PYTHONDONTWRITEBYTECODE="1")
    log = tmp_path / "make-up.log"
    base = "http://127.0.0.1"
    urls = [
        f"{base}:{service}/health",
        f"{base}:{metrics}/metrics",
        f"{base}:{dashboard}/_stcore/health",
        f"{base}:{slow}/health",
        f"{base}:{llm}/health",
        f"{base}:{api}/health",
        f"{base}:{evidently}/api/version",
        f"{base}:{prom}/-/ready",
    ]
    proc = start_make_up(repo, env, ports, log)
    try:
        # First run: everything from nothing, then Ctrl-C.
        wait_until(lambda: all(answers(u) for u in urls), START_TIMEOUT_S, "every URL answering", proc, log)
        assert "everything is up" in log.read_text()
        wait_until(
            lambda: target_state(db_url)[1] >= DEMO_TARGETS,
            PROBE_ROWS_TIMEOUT_S,
            "probe rows for every demo target",
            proc,
            log,
        )
        # Prometheus's first scrape comes ~6 s after its start, whatever the interval.
        wait_until(
            lambda: prometheus_jobs_up(f"{base}:{prom}") >= {"service", "prober", "api"},
            PROBE_ROWS_TIMEOUT_S,
            "Prometheus scraping the service, the prober and the API",
            proc,
            log,
        )
        running = processes_under(repo)
        # make, up, service, two demos, demo LLM, Evidently UI, Prometheus, prober, API, dashboard
        assert len(running) >= 11, running
        dashboard_pid = next(pid for pid, cmd in running.items() if "streamlit" in cmd)
        dashboard_env = environment_of(dashboard_pid)
        assert dashboard_env.get("CLFWATCH_PROMETHEUS_URL") == f"{base}:{prom}"
        assert dashboard_env.get("CLFWATCH_EVIDENTLY_URL") == f"{base}:{evidently}"
        assert dashboard_env.get("DO_NOT_TRACK") == "1"
        said = log.read_text()
        assert f"Evidently UI         {base}:{evidently}" in said
        assert f"Prometheus           {base}:{prom}" in said
        listening = listening_sockets(list(running))
        assert {port for _, port in listening} >= set(ports.values())
        assert all(address == LOOPBACK_V4 for address, _ in listening), listening

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        proc.wait(timeout=STOP_TIMEOUT_S)
        said = log.read_text()
        assert "SIGINT received" in said and "all stopped" in said, said[-3000:]
        assert "was killed" not in said, said[-3000:]  # everything stopped on SIGTERM, in the grace time
        wait_gone(repo)
        assert all(not answers(u) for u in urls)
        assert [port for port in ports.values() if not port_closed(port)] == []
        for name in ("service", "demo-slow", "demo-flaky", "demo-llm", "prober", "api", "dashboard",
                     "evidently", "prometheus"):
            assert (repo / "var" / "logs" / f"{name}.log").is_file()
        assert (repo / "var" / "prometheus" / "data").is_dir() and (repo / "var" / "evidently").is_dir()
        # The admin password and the registration code: made once, mode 0600, printed.
        made = {}
        for file_name in (prepare.ADMIN_PASSWORD_FILE, prepare.REGISTRATION_CODE_FILE):
            path = repo / "var" / file_name
            assert path.stat().st_mode & 0o777 == 0o600
            made[file_name] = path.read_text().strip()
            assert len(made[file_name]) >= 20 and made[file_name] in said
        assert f"team API             {base}:{api}" in said
        first_urls, _, samples = target_state(db_url)
        assert set(first_urls) == DEMO_TARGETS and samples > 0
        with session_scope(db_url) as session:
            llm_view = next(v for v in list_targets(session) if v.name == prepare.LLM_TARGET)
        assert (llm_view.kind, llm_view.model, llm_view.has_token) == ("openai-chat", DEMO_MODEL, True)
        assert DEFAULT_DEMO_LLM_KEY not in said  # the key is registered, never printed

        # Second run, the slow demo on another port: data kept, nothing duplicated, URL moved.
        # Then a child dies on its own: make up must name it, stop the rest and fail.
        log.write_text("")
        proc = start_make_up(repo, env, {**ports, "slow": slow_moved}, log)
        wait_until(lambda: "press Ctrl-C" in log.read_text(), START_TIMEOUT_S, "the second start", proc, log)
        said = log.read_text()
        assert "reference model found" in said and "already loaded" in said, said
        for file_name, value in made.items():  # reused, not made again
            assert (repo / "var" / file_name).read_text().strip() == value and value in said
        code = made[prepare.REGISTRATION_CODE_FILE]
        registered = httpx.post(
            f"{base}:{api}/api/v1/teams",
            json={"name": "team-up", "url": "http://127.0.0.1:9/", "registration_code": code},
            timeout=10,
        )
        # make up keeps the default networks: a loopback URL is refused, with the right code.
        assert registered.status_code == 422 and "loopback" in registered.json()["detail"], registered.text
        wrong = httpx.post(
            f"{base}:{api}/api/v1/teams",
            json={"name": "team-up", "url": "http://127.0.0.1:9/", "registration_code": code + "x"},
            timeout=10,
        )
        assert wrong.status_code == 403
        second_urls, _, samples_again = target_state(db_url)
        assert second_urls == {**first_urls, prepare.SLOW_TARGET: f"{base}:{slow_moved}"}
        assert samples_again == samples
        flaky_pid = next(pid for pid, cmd in processes_under(repo).items() if "clfwatch.demo flaky" in cmd)
        os.kill(flaky_pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)
        said = log.read_text()
        assert proc.returncode != 0
        assert "demo-flaky exited unexpectedly" in said and "all stopped" in said, said[-3000:]
        wait_gone(repo)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        kill_all(list(processes_under(repo)))
        engine_for(db_url).dispose()
