"""``make up``: the whole system on the embedded default (SQLite), on loopback, in one command.

Prepares what is missing (schema, reference model, evaluation set, the three demo targets,
an admin password and a registration code) and then supervises the reference service, two
demo targets, the prober, the team API and the dashboard as child processes. Each child runs
in its own process group, so Ctrl-C in the terminal reaches only this supervisor, which then
stops every child in order instead of leaving a half-stopped tree behind. Running it again
keeps the data: every step checks before it acts.

    python -m clfwatch.up [--host 127.0.0.1] [--service-port 8080] [--dashboard-port 8501]
                          [--slow-port 8081] [--flaky-port 8082] [--prober-metrics-port 9101]
                          [--api-port 8088]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from core.processes import GroupProcess, start_group, stop_groups
from core.settings import DEFAULT_API_PORT, Settings, SettingsError, get_settings
from storage.engine import session_scope, upgrade_database, wait_for_database
from storage.evalset import EvalSetError, eval_count, parse_eval_csv, replace_eval_set
from storage.targets import TargetError, add_target, list_targets, update_target

DEFAULT_HOST = "127.0.0.1"
DEFAULT_SERVICE_PORT = 8080
DEFAULT_SLOW_PORT = 8081
DEFAULT_FLAKY_PORT = 8082
DEFAULT_DASHBOARD_PORT = 8501
LOG_DIR = Path("var/logs")
SECRETS_DIR = Path("var")
ADMIN_PASSWORD_FILE = "admin-password"
REGISTRATION_CODE_FILE = "registration-code"
SECRET_BYTES = 18  # 24 URL-safe characters
SECRET_FILE_MODE = 0o600
READY_TIMEOUT_S = 120.0  # streamlit on a busy two-core machine needs tens of seconds
READY_POLL_S = 0.25
WATCH_POLL_S = 0.25
STOP_GRACE_S = 10.0
TRAIN_TIMEOUT_S = 600.0
DB_WAIT_TRIES = 30
REFERENCE_TARGET = "reference"
SLOW_TARGET = "demo-slow"
FLAKY_TARGET = "demo-flaky"
EVAL_FILE_NAME = "eval_labelled.csv"


def say(message: str) -> None:
    """The operator's view of what ``make up`` is doing: one line per step, on stdout."""
    print(f"clfwatch up: {message}", flush=True)  # noqa: T201


class UpError(Exception):
    """A step could not be done; the message says which and what to do."""


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived while preparing."""


@dataclass
class StopFlag:
    """Set from the signal handlers; every wait loop looks at it."""

    signal_name: str | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.signal_name = signal.Signals(signum).name

    @property
    def is_set(self) -> bool:
        return self.signal_name is not None


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: how to start it and how to tell that it answers."""

    name: str
    label: str  # what the operator reads next to the URL
    argv: list[str]
    base_url: str
    ready_path: str
    ready_needs_200: bool  # the flaky demo may answer 503 and still be up
    log_path: Path

    @property
    def ready_url(self) -> str:
        return self.base_url + self.ready_path


@dataclass
class Child:
    spec: ChildSpec
    proc: GroupProcess  # its own process group: the terminal's Ctrl-C reaches only us


def url_host(host: str) -> str:
    """The host to put in a URL that reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def safe_url(database_url: str) -> str:
    """The database URL with its password masked, fit to print."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is not printed at all
        return "(unparsable URL)"


def clfwatch_argv(*args: str) -> list[str]:
    """The ``clfwatch`` CLI of this interpreter, independent of PATH."""
    return [sys.executable, "-m", "clfwatch.cli", *args]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clfwatch.up",
        description="Bring clfwatch up on SQLite: reference service, two demo targets, prober, dashboard.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address every process listens on")
    parser.add_argument("--service-port", type=int, default=DEFAULT_SERVICE_PORT)
    parser.add_argument("--dashboard-port", type=int, default=DEFAULT_DASHBOARD_PORT)
    parser.add_argument("--slow-port", type=int, default=DEFAULT_SLOW_PORT)
    parser.add_argument("--flaky-port", type=int, default=DEFAULT_FLAKY_PORT)
    parser.add_argument("--prober-metrics-port", type=int, help="default: CLFWATCH_PROBE_METRICS_PORT (9101)")
    parser.add_argument(
        "--api-port", type=int, help=f"team API; default: CLFWATCH_API_PORT ({DEFAULT_API_PORT})"
    )
    return parser


# --- preparing ------------------------------------------------------------------------------


def migrate(settings: Settings) -> None:
    say(f"step 1/6: migrating the database {safe_url(settings.database_url)}")
    try:
        wait_for_database(settings.database_url, tries=DB_WAIT_TRIES)
    except OperationalError:
        raise UpError(f"the database does not answer after {DB_WAIT_TRIES} tries") from None
    upgrade_database(settings.database_url)


def model_present(model_dir: Path) -> bool:
    from service.model import METADATA_FILE, MODEL_FILE  # what `clfwatch service train` writes

    return (model_dir / MODEL_FILE).is_file() and (model_dir / METADATA_FILE).is_file()


def run_step(argv: list[str], stop: StopFlag, *, timeout_s: float) -> None:
    """Run a one-shot command in its own process group; Ctrl-C stops it too."""
    proc = start_group(argv, name=argv[3], output=None)  # its output is the operator's to read
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if stop.is_set or time.monotonic() > deadline:
            stop_groups([proc], grace_s=STOP_GRACE_S)
            if stop.is_set:
                raise StopRequested
            raise UpError(f"{' '.join(argv[3:])} took longer than {timeout_s:.0f} s")
        time.sleep(WATCH_POLL_S)
    if proc.returncode != 0:
        raise UpError(f"{' '.join(argv[3:])} failed with exit code {proc.returncode}")


def ensure_model(settings: Settings, stop: StopFlag) -> None:
    model_dir = settings.service_model_dir
    if model_present(model_dir):
        say(f"step 2/6: reference model found in {model_dir}")
        return
    say(f"step 2/6: training the reference model into {model_dir} (clfwatch service train)")
    run_step(clfwatch_argv("service", "train"), stop, timeout_s=TRAIN_TIMEOUT_S)
    if not model_present(model_dir):
        raise UpError(f"clfwatch service train wrote nothing to {model_dir}")


def eval_file() -> Path:
    from service.data import DATA_DIR  # the service package ships the data it was built on

    return Path(DATA_DIR) / EVAL_FILE_NAME


def ensure_eval_set(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        count = eval_count(session)
    if count:
        say(f"step 3/6: evaluation set already loaded ({count} samples), kept as is")
        return
    path = eval_file()
    say(f"step 3/6: loading the evaluation set from {path}")
    try:
        rows = parse_eval_csv(path.read_text(encoding="utf-8"))
    except (OSError, EvalSetError) as exc:
        raise UpError(f"cannot load {path}: {exc}") from None
    with session_scope(settings.database_url) as session:
        replace_eval_set(session, rows)
    say(f"  loaded {len(rows)} samples")


def ensure_targets(settings: Settings, wanted: dict[str, str]) -> None:
    """Register each wanted target once; a target whose port changed gets the new URL."""
    say("step 4/6: registering the reference service and the two demo targets")
    token = settings.service_api_key.get_secret_value() if settings.service_api_key else None
    try:
        with session_scope(settings.database_url) as session:
            existing = {view.name: view for view in list_targets(session)}
            for name, url in wanted.items():
                target_token = token if name == REFERENCE_TARGET else None
                view = existing.get(name)
                if view is None:
                    add_target(session, name=name, base_url=url, token=target_token)
                    say(f"  registered {name} at {url}")
                elif view.base_url != url:
                    update_target(session, name, base_url=url, token=target_token)
                    say(f"  {name} moved from {view.base_url} to {url}")
                else:
                    if target_token:
                        update_target(session, name, token=target_token)
                    say(f"  {name} already registered at {url}" + ("" if view.active else " (inactive)"))
    except TargetError as exc:
        raise UpError(str(exc)) from None


def stored_secret(path: Path) -> tuple[str, bool]:
    """The secret kept in ``path`` (mode 0600), made on first use; (value, newly made).

    Kept under var/ so a second ``make up`` reuses it: a course's registration code must not
    change under the students' feet, nor the admin password under the instructor's.
    """
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = ""
    if value:
        os.chmod(path, SECRET_FILE_MODE)  # a copy that lost its mode gets it back
        return value, False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(SECRET_BYTES)
    path.unlink(missing_ok=True)  # an empty file left by a crash
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    return value, True


@dataclass(frozen=True)
class Secrets:
    """What the admin page and self-registration need; each from the environment or var/."""

    admin_password: str
    admin_from: str  # where it came from, to print
    registration_code: str
    code_from: str

    def env(self) -> dict[str, str]:
        return {"CLFWATCH_ADMIN_PASSWORD": self.admin_password,
                "CLFWATCH_REGISTRATION_CODE": self.registration_code}


def ensure_secrets(settings: Settings, directory: Path = SECRETS_DIR) -> Secrets:
    """An admin password and a registration code: the environment's if set, else var/'s."""
    say("step 5/6: admin password and registration code")
    found: list[tuple[str, str]] = []
    for value, file_name, variable in (
        (settings.admin_password, ADMIN_PASSWORD_FILE, "CLFWATCH_ADMIN_PASSWORD"),
        (settings.registration_code, REGISTRATION_CODE_FILE, "CLFWATCH_REGISTRATION_CODE"),
    ):
        if value is not None:
            found.append((value.get_secret_value(), f"from {variable}"))
            continue
        path = directory / file_name
        secret, made = stored_secret(path)
        found.append((secret, f"{'generated into' if made else 'kept in'} {path} (mode 0600)"))
    (admin, admin_from), (code, code_from) = found
    return Secrets(admin, admin_from, code, code_from)


# --- supervising ----------------------------------------------------------------------------


def start_child(spec: ChildSpec, env: dict[str, str]) -> Child:
    return Child(spec, start_group(spec.argv, name=spec.name, env=env, output=spec.log_path))


def answers(spec: ChildSpec, client: httpx.Client) -> bool:
    try:
        response = client.get(spec.ready_url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 or not spec.ready_needs_200


def wait_ready(children: Sequence[Child], stop: StopFlag, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Block until every child answers its ready URL; UpError naming the first that does not."""
    pending = list(children)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while pending:
            if stop.is_set:
                raise StopRequested
            for child in list(pending):
                if child.proc.poll() is not None:
                    raise UpError(
                        f"{child.spec.name} exited with code {child.proc.returncode} while starting; "
                        f"see {child.spec.log_path}"
                    )
                if answers(child.spec, client):
                    say(f"  {child.spec.name} is up")
                    pending.remove(child)
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.spec.name for c in pending)
                raise UpError(f"not answering after {timeout_s:.0f} s: {names}; see {LOG_DIR}/*.log")
            if pending:
                time.sleep(READY_POLL_S)


def stop_children(children: Sequence[Child]) -> None:
    if not children:
        return
    say("stopping " + ", ".join(c.spec.name for c in children))
    killed = stop_groups([c.proc for c in children], grace_s=STOP_GRACE_S)
    for child in children:
        if child.proc in killed:
            say(f"  {child.spec.name} did not stop within {STOP_GRACE_S:.0f} s and was killed")
    say("all stopped")


def watch(children: Sequence[Child], stop: StopFlag) -> Child | None:
    """Sleep until a signal (returns None) or until a child exits (returns it)."""
    while not stop.is_set:
        for child in children:
            if child.proc.poll() is not None:
                return child
        time.sleep(WATCH_POLL_S)
    return None


def child_specs(args: argparse.Namespace, metrics_port: int) -> tuple[list[ChildSpec], list[ChildSpec]]:
    """The targets first, then the prober and the dashboard that look at them."""
    host, reach = args.host, url_host(args.host)

    def spec(
        name: str, label: str, argv: list[str], port: int, path: str, needs_200: bool = True
    ) -> ChildSpec:
        return ChildSpec(
            name, label, argv, f"http://{reach}:{port}", path, needs_200, LOG_DIR / f"{name}.log"
        )

    def on(port: int) -> list[str]:
        return ["--host", host, "--port", str(port)]

    demo = [sys.executable, "-m", "clfwatch.demo"]
    targets = [
        spec(
            "service",
            "reference service",
            clfwatch_argv("service", "serve", *on(args.service_port)),
            args.service_port,
            "/health",
        ),
        spec(
            "demo-slow", "demo target (slow)", [*demo, "slow", *on(args.slow_port)], args.slow_port, "/health"
        ),
        spec(
            "demo-flaky",
            "demo target (flaky)",
            [*demo, "flaky", *on(args.flaky_port)],
            args.flaky_port,
            "/health",
            needs_200=False,
        ),
    ]
    watchers = [
        spec("prober", "prober metrics", clfwatch_argv("probe", "run"), metrics_port, "/metrics"),
        spec("api", "team API", clfwatch_argv("api", *on(args.api_port)), args.api_port, "/health"),
        spec(
            "dashboard",
            "dashboard",
            clfwatch_argv("dashboard", *on(args.dashboard_port)),
            args.dashboard_port,
            "/_stcore/health",
        ),
    ]
    return targets, watchers


def check_ports(host: str, ports: dict[str, int]) -> None:
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if not 0 < port < 65536:
            raise UpError(f"{name} port {port} is not a TCP port")
        if port in seen:
            raise UpError(f"{name} and {seen[port]} both want port {port}")
        seen[port] = name
        if not port_is_free(host, port):
            raise UpError(f"port {port} ({name}) on {host} is in use; pick another with --{name}-port")


def run(args: argparse.Namespace, settings: Settings, stop: StopFlag) -> int:
    metrics_port = args.prober_metrics_port or settings.probe_metrics_port
    args.api_port = args.api_port or settings.api_port
    ports = {
        "service": args.service_port,
        "slow": args.slow_port,
        "flaky": args.flaky_port,
        "prober-metrics": metrics_port,
        "api": args.api_port,
        "dashboard": args.dashboard_port,
    }
    check_ports(args.host, ports)
    reach = url_host(args.host)
    migrate(settings)
    ensure_model(settings, stop)
    ensure_eval_set(settings)
    ensure_targets(
        settings,
        {
            REFERENCE_TARGET: f"http://{reach}:{args.service_port}",
            SLOW_TARGET: f"http://{reach}:{args.slow_port}",
            FLAKY_TARGET: f"http://{reach}:{args.flaky_port}",
        },
    )
    keys = ensure_secrets(settings)
    if stop.is_set:
        raise StopRequested

    env = dict(os.environ)
    env.update(keys.env())
    env["CLFWATCH_PROBE_METRICS_PORT"] = str(metrics_port)
    env["CLFWATCH_PROBE_METRICS_HOST"] = args.host
    env["PYTHONUNBUFFERED"] = "1"
    targets, watchers = child_specs(args, metrics_port)
    say(f"step 6/6: starting {len(targets) + len(watchers)} processes; logs in {LOG_DIR.resolve()}/")
    children: list[Child] = []
    try:
        for group in (targets, watchers):
            started = [start_child(spec, env) for spec in group]
            children.extend(started)
            wait_ready(started, stop)
        say("everything is up:")
        for child in children:
            url = child.spec.ready_url if child.spec.name == "prober" else child.spec.base_url
            say(f"  {child.spec.label:<20} {url}   (log: {child.spec.log_path})")
        say(f"  admin password       {keys.admin_password}   ({keys.admin_from}; Admin page)")
        say(f"  registration code    {keys.registration_code}   ({keys.code_from}; give it to the teams)")
        say("  teams register on the dashboard's Register page or with curl (README, Self-service for teams)")
        say("press Ctrl-C to stop everything")
        died = watch(children, stop)
        if died is not None:
            say(
                f"{died.spec.name} exited unexpectedly with code {died.proc.returncode}; "
                f"see {died.spec.log_path}. Stopping the rest."
            )
            return 1
        say(f"{stop.signal_name} received")
        return 0
    finally:
        stop_children(children)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = StopFlag()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        settings = get_settings()
    except SettingsError as exc:
        say(f"bad setting: {exc}")
        return 2
    try:
        return run(args, settings, stop)
    except StopRequested:
        say(f"{stop.signal_name} received while starting; stopped")
        return 0
    except UpError as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
