"""The steps of ``make up`` one by one: idempotent preparation, port checks, stopping groups.

The whole command end to end is in test_make_up.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from clfwatch.up import common, observability, plan, prepare, supervise
from clfwatch.up import main as up_main
from core.settings import Settings
from service.llm_demo import DEMO_MODEL
from service.model_files import METADATA_FILE, MODEL_FILE
from storage.engine import session_scope
from storage.evalset import eval_count, replace_eval_set
from storage.targets import add_target, list_targets, probe_targets
from tests.clfwatch.inproc import clfwatch_in_process
from tests.conftest import free_port
from tests.deploy.test_prometheus_rules import rules_found

WANTED = {
    prepare.REFERENCE_TARGET: "http://127.0.0.1:8080",
    prepare.SLOW_TARGET: "http://127.0.0.1:8081",
    prepare.FLAKY_TARGET: "http://127.0.0.1:8082",
    prepare.LLM_TARGET: "http://127.0.0.1:38300",
}


def settings_for(url: str, **extra: object) -> Settings:
    return Settings(database_url=url, **extra)  # type: ignore[arg-type]


def urls(db_url: str) -> dict[str, str]:
    with session_scope(db_url) as session:
        return {v.name: v.base_url for v in list_targets(session)}


def test_targets_registered_once_and_moved_when_a_port_changes(db_url: str) -> None:
    settings = settings_for(db_url)
    with session_scope(db_url) as session:
        add_target(session, name="team-a", base_url="http://10.0.0.1:9000")
    prepare.ensure_targets(settings, WANTED)
    prepare.ensure_targets(settings, WANTED)
    assert urls(db_url) == {**WANTED, "team-a": "http://10.0.0.1:9000"}
    with session_scope(db_url) as session:
        ids_before = {v.name: v.id for v in list_targets(session)}
    moved = {**WANTED, prepare.SLOW_TARGET: "http://127.0.0.1:9181"}
    prepare.ensure_targets(settings, moved)
    assert urls(db_url) == {**moved, "team-a": "http://10.0.0.1:9000"}
    with session_scope(db_url) as session:
        assert {v.name: v.id for v in list_targets(session)} == ids_before  # history kept


def test_reference_target_gets_the_service_api_key(db_url: str) -> None:
    prepare.ensure_targets(settings_for(db_url, service_api_key="k-7f3a9c"), WANTED)
    with session_scope(db_url) as session:
        tokens = {v.name: v.has_token for v in list_targets(session)}
    assert tokens == {prepare.REFERENCE_TARGET: True, prepare.SLOW_TARGET: False, prepare.FLAKY_TARGET: False,
                      prepare.LLM_TARGET: True}


def test_demo_llm_is_an_openai_chat_target_with_the_key_it_demands(db_url: str) -> None:
    prepare.ensure_targets(settings_for(db_url, demo_llm_key="k-llm-1"), WANTED)
    prepare.ensure_targets(settings_for(db_url, demo_llm_key="k-llm-2"), WANTED)  # a changed key follows
    with session_scope(db_url) as session:
        kinds = {v.name: (v.kind, v.model) for v in list_targets(session)}
        tokens = {t.name: t.token for t in probe_targets(session)}
    assert kinds[prepare.LLM_TARGET] == ("openai-chat", DEMO_MODEL)
    assert kinds[prepare.SLOW_TARGET] == ("classifier", None)
    assert tokens[prepare.LLM_TARGET] == "k-llm-2"


def test_eval_set_loaded_when_empty_and_kept_otherwise(db_url: str) -> None:
    settings = settings_for(db_url)
    prepare.ensure_eval_set(settings)
    with session_scope(db_url) as session:
        shipped = eval_count(session)
    assert shipped > 0
    prepare.ensure_eval_set(settings)
    with session_scope(db_url) as session:
        assert eval_count(session) == shipped
        replace_eval_set(session, [("h1", "a hidden text", 1), ("h2", "another", 0)])
    prepare.ensure_eval_set(settings)  # an operator's own set is never overwritten
    with session_scope(db_url) as session:
        assert eval_count(session) == 2


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("::1", "[::1]"),
        ("::", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_url_host(host: str, expected: str) -> None:
    assert common.url_host(host) == expected


def test_busy_and_duplicate_ports_are_refused_before_anything_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(common.UpError, match=f"port {port} \\(dashboard\\) on 127.0.0.1 is in use"):
            plan.check_ports("127.0.0.1", {"service": free_port(), "dashboard": port})
    same = free_port()
    with pytest.raises(common.UpError, match="both want port"):
        plan.check_ports("127.0.0.1", {"service": same, "slow": same})
    with pytest.raises(common.UpError, match="not a TCP port"):
        plan.check_ports("127.0.0.1", {"service": 70000})


def test_a_child_that_ignores_sigterm_is_killed_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The group mechanics are tested in tests/core/test_processes.py; here, what the operator reads."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervise, "STOP_GRACE_S", 1.0)
    spec = supervise.ChildSpec(
        "prober", "prober", ["sh", "-c", "trap '' TERM; sleep 60"], "http://127.0.0.1:1", "/", True,
        common.LOG_DIR / "prober.log",
    )
    child = supervise.start_child(spec, dict(os.environ))
    time.sleep(0.3)  # let sh install its trap
    supervise.stop_children([child])
    said = capsys.readouterr().out
    assert "prober did not stop within 1 s and was killed" in said and "all stopped" in said
    assert child.proc.returncode == -signal.SIGKILL and not child.proc.alive()


def test_a_child_that_dies_while_starting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = supervise.ChildSpec(
        "demo-slow",
        "demo",
        [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
        f"http://127.0.0.1:{free_port()}",
        "/health",
        True,
        common.LOG_DIR / "demo-slow.log",
    )
    child = supervise.start_child(spec, dict(os.environ))
    try:
        with pytest.raises(common.UpError, match="demo-slow exited with code 3 while starting; see var/logs"):
            supervise.wait_ready([child], common.StopFlag(), timeout_s=30)
    finally:
        supervise.stop_children([child])
    assert "boom" in (tmp_path / "var" / "logs" / "demo-slow.log").read_text()


def test_watch_returns_the_child_that_exits_and_none_on_a_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def spec(name: str, code: str) -> supervise.ChildSpec:
        return supervise.ChildSpec(
            name,
            name,
            [sys.executable, "-c", code],
            "http://127.0.0.1:1",
            "/",
            True,
            common.LOG_DIR / f"{name}.log",
        )

    env = dict(os.environ)
    children = [
        supervise.start_child(spec("prober", "import time; time.sleep(60)"), env),
        supervise.start_child(spec("dashboard", "import time; time.sleep(0.5)"), env),
    ]
    try:
        assert supervise.watch(children, common.StopFlag()) is children[1]
        stop = common.StopFlag()
        stop(signal.SIGINT, None)
        assert supervise.watch(children, stop) is None and stop.signal_name == "SIGINT"
    finally:
        supervise.stop_children(children)
    assert all(c.proc.poll() is not None for c in children)


def test_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_PROBE_INTERVAL_S"] = "-1"
    r = subprocess.run(
        [sys.executable, "-m", "clfwatch.up"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "CLFWATCH_PROBE_INTERVAL_S" in r.stdout


def test_busy_port_exits_1_before_touching_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main``'s exit code and line, in this process: the real script's exit code and its line
    on stdout are the bad-setting test's above; here, that nothing is migrated before the check."""
    from core.settings import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # main's handlers: not into pytest's process
    get_settings.cache_clear()
    try:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            code = up_main.main(["--service-port", str(port)])
    finally:
        get_settings.cache_clear()
    assert code == 1 and f"port {port} (service)" in capsys.readouterr().out
    assert not (tmp_path / "x.db").exists()


def test_prober_listens_where_clfwatch_probe_metrics_host_says(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compose runs the prober with CLFWATCH_PROBE_METRICS_HOST=0.0.0.0 so Prometheus can scrape it.

    ``clfwatch probe run`` in this process, from the settings to the bound /metrics; its probing
    loop is replaced by the look at where /metrics answers (the prober as a process is
    tests/probes/test_cli.py's)."""
    from clfwatch.commands import probe

    port = free_port()
    env = {"CLFWATCH_DATABASE_URL": sqlite_url, "CLFWATCH_PROBE_METRICS_PORT": str(port),
           "CLFWATCH_PROBE_METRICS_HOST": "127.0.0.2"}
    answered: list[str] = []
    servers: list[object] = []
    real_serve_metrics = probe.serve_metrics

    def serve_metrics(port: int, addr: str) -> object:
        servers.append(server := real_serve_metrics(port, addr))
        return server

    async def probe_until_stopped(prober: object) -> None:
        for host in ("127.0.0.2", "127.0.0.1"):
            try:
                httpx.get(f"http://{host}:{port}/metrics", timeout=1)
                answered.append(host)
            except httpx.HTTPError:
                continue

    monkeypatch.setattr(probe, "serve_metrics", serve_metrics)
    monkeypatch.setattr(probe, "_run_forever", probe_until_stopped)
    try:
        r = clfwatch_in_process(env, "probe", "run")
    finally:
        for server in servers:
            server.server_close()  # type: ignore[attr-defined] # a process's exit would close it
    assert r.returncode == 0, r.stderr
    assert answered == ["127.0.0.2"], f"prober metrics answered on {answered}, expected 127.0.0.2"


def test_parser_defaults_match_the_agreed_ports() -> None:
    args = up_main.build_parser().parse_args([])
    assert (args.host, args.service_port, args.slow_port, args.flaky_port, args.dashboard_port) == (
        "127.0.0.1",
        8080,
        8081,
        8082,
        8501,
    )
    assert args.prober_metrics_port is None  # falls back to CLFWATCH_PROBE_METRICS_PORT
    assert args.llm_port is None  # falls back to CLFWATCH_DEMO_LLM_PORT (38300)


def test_secrets_are_made_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite:///unused.db")
    first = prepare.ensure_secrets(settings, tmp_path)
    assert first.admin_password != first.registration_code
    for name, value in ((prepare.ADMIN_PASSWORD_FILE, first.admin_password),
                        (prepare.REGISTRATION_CODE_FILE, first.registration_code)):
        path = tmp_path / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text().strip() == value and len(value) >= 20
    assert "generated into" in first.admin_from
    (tmp_path / prepare.ADMIN_PASSWORD_FILE).chmod(0o644)
    again = prepare.ensure_secrets(settings, tmp_path)
    assert again.env() == first.env()
    assert "kept in" in again.code_from
    assert (tmp_path / prepare.ADMIN_PASSWORD_FILE).stat().st_mode & 0o777 == 0o600  # mode restored


def test_secrets_from_the_environment_win_and_are_not_written(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite:///unused.db", admin_password="pw-7f3a9c1d",  # type: ignore[arg-type]
                        registration_code="course-code-4411")
    found = prepare.ensure_secrets(settings, tmp_path)
    assert found.env() == {"CLFWATCH_ADMIN_PASSWORD": "pw-7f3a9c1d",
                           "CLFWATCH_REGISTRATION_CODE": "course-code-4411"}
    assert "from CLFWATCH_REGISTRATION_CODE" in found.code_from
    assert list(tmp_path.iterdir()) == []


def test_parser_defaults_for_the_evidently_ui_and_prometheus() -> None:
    args = up_main.build_parser().parse_args([])
    assert (args.evidently_port, args.prometheus_port) == (8502, 9090)
    args = up_main.build_parser().parse_args(["--evidently-port", "18502", "--prometheus-port", "19090"])
    assert (args.evidently_port, args.prometheus_port) == (18502, 19090)


def test_the_generated_prometheus_config_passes_promtool_and_loads_the_alert_rules(tmp_path: Path) -> None:
    ports = plan.Ports(service=18080, slow=18081, flaky=18082, llm=18300, prober_metrics=19101, api=18088,
                       dashboard=18501, evidently=18502, prometheus=19090)
    config = observability.write_prometheus_config(plan.scrape_jobs("0.0.0.0", ports), tmp_path / "p.yml")
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run scripts/system-deps.sh (Debian package prometheus)"
    checked = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert rules_found() in checked.stdout  # deploy/prometheus/alerts.yml
    loaded = yaml.safe_load(config.read_text())
    assert {job["job_name"]: job["static_configs"][0]["targets"] for job in loaded["scrape_configs"]} == {
        "service": ["127.0.0.1:18080"], "prober": ["127.0.0.1:19101"], "api": ["127.0.0.1:18088"],
    }
    argv = observability.prometheus_argv("/usr/bin/prometheus", 19090, config, tmp_path / "data")
    assert "--web.listen-address=127.0.0.1:19090" in argv
    assert any(a.startswith("--storage.tsdb.retention.time=") for a in argv)


def test_evidently_and_prometheus_ports_are_checked_on_loopback_whatever_the_host() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = plan.Ports(service=free_port(), slow=free_port(), flaky=free_port(), llm=free_port(),
                           prober_metrics=free_port(), api=free_port(), dashboard=free_port(),
                           evidently=port, prometheus=None)
        with pytest.raises(common.UpError, match=f"port {port} \\(evidently\\) on 127.0.0.1 is in use; "
                                                 "pick another with --evidently-port"):
            plan.check_all_ports("127.0.0.2", ports)


def test_without_prometheus_on_the_path_up_says_so_once_and_starts_the_rest(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PATH holds only the virtualenv's bin: no prometheus. One line names the install command;
    every other child, the Evidently UI included, is started; the children get no Prometheus URL,
    and the Prometheus port is not even checked (here it is busy).

    ``up``'s own steps run in this process; only starting, waiting for and stopping the children
    are recorded instead of done: that every child of ``make up`` really comes up and stops on
    Ctrl-C is test_make_up.py's, with Prometheus, which costs a dozen processes to prove.
    """
    venv_bin = Path(sys.executable).parent
    assert not (venv_bin / "prometheus").exists()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(venv_bin))
    model_dir = tmp_path / "model"  # only looked for: no child of this test loads it
    model_dir.mkdir()
    for name in (MODEL_FILE, METADATA_FILE):
        (model_dir / name).write_text("{}")
    settings = Settings(database_url=sqlite_url, service_model_dir=model_dir)  # type: ignore[call-arg]
    started: list[tuple[supervise.ChildSpec, dict[str, str]]] = []
    stopped: list[supervise.Child] = []

    def start_child(spec: supervise.ChildSpec, env: dict[str, str]) -> supervise.Child:
        started.append((spec, env))
        return supervise.Child(spec, None)  # type: ignore[arg-type]

    def watch(children: list[supervise.Child], stop: common.StopFlag) -> None:
        stop(signal.SIGINT, None)  # the operator's Ctrl-C once everything is up

    monkeypatch.setattr(up_main, "start_child", start_child)
    monkeypatch.setattr(up_main, "wait_ready", lambda children, stop: None)
    monkeypatch.setattr(up_main, "watch", watch)
    monkeypatch.setattr(up_main, "stop_children", stopped.extend)
    names = ["service", "slow", "flaky", "llm", "prober-metrics", "api", "dashboard", "evidently"]
    argv = [arg for name in names for arg in (f"--{name}-port", str(free_port()))]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = up_main.build_parser().parse_args([*argv, "--prometheus-port", str(busy.getsockname()[1])])
        assert up_main.run(args, settings, common.StopFlag()) == 0
    said = capsys.readouterr().out.replace(str(tmp_path), "TMP")  # the test's name holds "prometheus"
    missing = [line for line in said.splitlines() if "prometheus" in line.lower()]
    assert missing == ["clfwatch up: " + observability.NO_PROMETHEUS], missing
    assert "apt-get install prometheus" in missing[0]
    assert "press Ctrl-C" in said and "SIGINT received" in said
    assert [spec.name for spec, _ in started] == [
        "service", "demo-slow", "demo-flaky", "demo-llm", "evidently", "prober", "api", "dashboard"]
    evidently = next(spec for spec, _ in started if spec.name == "evidently")
    assert Path(evidently.argv[0]).parent == venv_bin  # found beside the interpreter, not on PATH
    for spec, env in started:
        assert "CLFWATCH_PROMETHEUS_URL" not in env, spec.name
        assert env["CLFWATCH_EVIDENTLY_URL"] == f"http://127.0.0.1:{args.evidently_port}"
    assert [child.spec for child in stopped] == [spec for spec, _ in started]  # all stopped
    assert not (tmp_path / "var" / "prometheus").exists()
