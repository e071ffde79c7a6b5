"""Checks docker-compose.yml, the Prometheus config and the Dockerfiles against the code.

Compose cannot run here, and a deployment file that drifts from the code fails only on the
operator's server. So the files are read as data and every name in them is looked up where it
is defined: settings in ``core.settings.Settings``, commands in the real argparse parser,
ports in the commands that open them, files on disk. ``check_deployment`` returns a list of
problems, one readable line each; an empty list means the files agree with the code.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.metadata
import importlib.util
import io
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from core.settings import DEFAULT_API_PORT, ENV_PREFIX, Settings

COMPOSE_FILE = "docker-compose.yml"
REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "CLFWATCH_ADMIN_PASSWORD")
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "API_KEY")
REQUIRED_SCRAPE_JOBS = {"service": "service", "prober": "prober"}  # job name -> compose service
DASHBOARD_REQUIRED = ("CLFWATCH_PROMETHEUS_URL", "CLFWATCH_EVIDENTLY_URL", "CLFWATCH_ADMIN_PASSWORD")
LONG_RUNNING_RESTARTS = {"always", "unless-stopped", "on-failure"}
ALL_INTERFACES = {"0.0.0.0", "::", ""}
# Listening ports of the images we do not build, when their command does not say otherwise.
IMAGE_PORTS = {"postgres": 5432, "prom/prometheus": 9090, "prom/alertmanager": 9093}
ALERTMANAGER_IMAGE = "prom/alertmanager"
ALERTMANAGER_CONFIG = "/etc/alertmanager/alertmanager.yml"
# Defaults of the clfwatch commands that open a port (interfaces brief), if the parser has none.
COMMAND_PORTS = {("service", "serve"): 8080, ("dashboard",): 8501, ("api",): DEFAULT_API_PORT}
EVIDENTLY_DEFAULT_PORT = 8000
PYTHON_BASE = "python:3.11-slim"
DUMMY_SECRET = "not-a-placeholder-4f2a"
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


class InitOnlySettings(Settings):
    """Settings validated from given values only: this process's environment must not leak in."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_rest):  # type: ignore[no-untyped-def, override]
        return (init_settings,)


@dataclass(frozen=True)
class Listener:
    """Where a compose service accepts connections inside its container."""

    host: str
    port: int


@dataclass
class Deployment:
    root: Path
    compose: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return dict(self.compose.get("services") or {})

    def problem(self, message: str) -> None:
        self.problems.append(message)


# --- small readers ---------------------------------------------------------------------------


def interpolate(value: str, *, secret: str = DUMMY_SECRET) -> tuple[str, list[str]]:
    """The value as compose would see it with only the defaults (required ones get ``secret``)."""
    notes: list[str] = []

    def sub(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if op in (":?", "?"):
            return secret
        if op in (":-", "-"):
            return arg
        if op in (":+", "+"):
            return ""
        notes.append(f"${{{name}}} has no default and is not required: empty when unset")
        return ""

    return INTERPOLATION.sub(sub, value.replace("$$", "\0")).replace("\0", "$"), notes


def environment(svc: dict[str, Any]) -> dict[str, str]:
    """A service's environment as name -> raw string, from the map or the list form."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {k: v for k, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command_argv(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command")
    if cmd is None:
        return []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def option(argv: list[str], name: str) -> str | None:
    """The value of ``--name V`` or ``--name=V`` in argv, else None."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def parse_clfwatch(argv: list[str]) -> tuple[Any | None, str]:
    """Parse ``clfwatch ...`` with the real parser: (namespace, "") or (None, the error)."""
    from clfwatch.cli import build_parser

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            return build_parser().parse_args(argv), ""
    except SystemExit:
        lines = [ln for ln in stderr.getvalue().splitlines() if ln.strip()]
        return None, lines[-1] if lines else "rejected by the parser"


def console_scripts() -> set[str]:
    return {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")}


def is_one_shot(name: str, svc: dict[str, Any], services: dict[str, dict[str, Any]]) -> bool:
    """A step that runs to completion: the migration, or anything awaited as completed."""
    if command_argv(svc)[:3] == ["clfwatch", "db", "upgrade"]:
        return True
    return any(
        isinstance(other.get("depends_on"), dict)
        and ((other["depends_on"].get(name) or {}).get("condition") == "service_completed_successfully")
        for other in services.values()
    )


def settings_of(dep: Deployment, name: str, svc: dict[str, Any]) -> Settings | None:
    """The service's clfwatch settings as its container would load them, or None if invalid."""
    values: dict[str, str] = {}
    for key, raw in environment(svc).items():
        if not key.startswith(ENV_PREFIX):
            continue
        field_name = key[len(ENV_PREFIX) :].lower()
        if field_name not in Settings.model_fields:
            dep.problem(f"{name}: {key} is not a clfwatch setting (no field {field_name!r} in Settings)")
            continue
        value, notes = interpolate(raw)
        for note in notes:
            dep.problem(f"{name}: {key}: {note}")
        values[field_name] = value
    try:
        return InitOnlySettings(**values)
    except ValidationError as exc:
        for error in exc.errors():
            loc = str(error["loc"][0]) if error["loc"] else "?"
            msg = str(error["msg"]).removeprefix("Value error, ")
            dep.problem(f"{name}: {ENV_PREFIX}{loc.upper()} with its compose default is invalid: {msg}")
        return None


def listener(dep: Deployment, name: str, svc: dict[str, Any]) -> Listener | None:
    """Derive where the service listens from its command, environment and image; None if it does not."""
    argv = command_argv(svc)
    if argv[:1] == ["clfwatch"]:
        args, error = parse_clfwatch(argv[1:])
        if args is None:
            return None
        words = tuple(a for a in argv[1:3] if not a.startswith("-"))
        if words[:1] == ("probe",):
            settings = settings_of(dep, name, svc)
            if settings is None or settings.probe_metrics_port == 0:
                return None
            return Listener(settings.probe_metrics_host, settings.probe_metrics_port)
        for key, default in COMMAND_PORTS.items():
            if words[: len(key)] == key:
                port = getattr(args, "port", None) or default
                return Listener(str(getattr(args, "host", None) or "127.0.0.1"), int(port))
        return None
    if argv[:2] == ["evidently", "ui"]:
        return Listener(
            option(argv, "--host") or "127.0.0.1", int(option(argv, "--port") or EVIDENTLY_DEFAULT_PORT)
        )
    image = str(svc.get("image", "")).split(":")[0]
    if image in IMAGE_PORTS:
        address = option(argv, "--web.listen-address")
        if address:
            host, _, port = address.rpartition(":")
            return Listener(host, int(port))
        return Listener("0.0.0.0", IMAGE_PORTS[image])
    return None


def published_ports(entry: Any) -> tuple[str, int | None, int] | None:
    """(host ip, host port or None, container port) of one ``ports`` entry."""
    if isinstance(entry, dict):
        published = entry.get("published")
        return str(entry.get("host_ip", "")), int(published) if published else None, int(entry["target"])
    parts = str(entry).split("/")[0].split(":")
    if len(parts) == 1:
        return "", None, int(parts[0])
    if len(parts) == 2:
        return "", int(parts[0]), int(parts[1])
    return ":".join(parts[:-2]), int(parts[-2]), int(parts[-1])


# --- the checks ----------------------------------------------------------------------------


def check_environment(dep: Deployment) -> None:
    services = dep.services
    secret_refs: dict[str, list[str]] = {s: [] for s in REQUIRED_SECRETS}
    for name, svc in services.items():
        env = environment(svc)
        for key, raw in env.items():
            for secret in REQUIRED_SECRETS:
                if secret in raw or key == secret:
                    secret_refs[secret].append(name)
                    if f"${{{secret}:?" not in raw:
                        dep.problem(
                            f"{name}: {key} must take {secret} as ${{{secret}:?message}} (required secret)"
                        )
            if any(word in key for word in SECRET_WORDS) and INTERPOLATION.sub("", raw).strip():
                dep.problem(f"{name}: {key} holds a literal value; secrets come from ${{VAR:?...}}")
        argv = command_argv(svc)
        if argv[:1] != ["clfwatch"]:
            continue
        settings = settings_of(dep, name, svc)
        needs_db = argv[1:2] != ["service"]
        if needs_db:
            check_database_url(dep, name, env)
        if argv[1:2] == ["dashboard"]:
            for key in DASHBOARD_REQUIRED:
                if not env.get(key):
                    dep.problem(f"{name}: the dashboard needs {key}")
            if settings is not None:
                for key, url in (
                    ("CLFWATCH_PROMETHEUS_URL", settings.prometheus_url),
                    ("CLFWATCH_EVIDENTLY_URL", settings.evidently_url),
                ):
                    if url:
                        check_reachable(dep, name, key, url)
    for secret, users in secret_refs.items():
        if not users:
            dep.problem(f"required secret {secret} is not used by any service")


def check_database_url(dep: Deployment, name: str, env: dict[str, str]) -> None:
    raw = env.get("CLFWATCH_DATABASE_URL")
    if not raw:
        dep.problem(
            f"{name}: CLFWATCH_DATABASE_URL is not set: the container would use a private SQLite file"
        )
        return
    value, _ = interpolate(raw)
    if not value.startswith("postgresql+psycopg://"):
        dep.problem(
            f"{name}: CLFWATCH_DATABASE_URL must be postgresql+psycopg://..., got {value.split(':')[0]}"
        )
        return
    check_reachable(dep, name, "CLFWATCH_DATABASE_URL", value)
    parts = urlsplit(value)
    pg = next((s for s in dep.services.values() if str(s.get("image", "")).startswith("postgres")), None)
    if pg is not None:
        pg_env = environment(pg)
        if parts.username != pg_env.get("POSTGRES_USER", "postgres"):
            dep.problem(
                f"{name}: database user {parts.username!r} is not the postgres service's POSTGRES_USER"
            )
        if parts.path.lstrip("/") != pg_env.get("POSTGRES_DB", pg_env.get("POSTGRES_USER", "postgres")):
            dep.problem(
                f"{name}: database {parts.path.lstrip('/')!r} is not the postgres service's POSTGRES_DB"
            )


def check_reachable(dep: Deployment, name: str, key: str, url: str) -> None:
    """A URL pointing into the deployment must name a compose service on the port it listens on."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if host not in dep.services:
        dep.problem(f"{name}: {key} points at {host!r}, which is not a compose service")
        return
    found = listener(dep, host, dep.services[host])
    if found is None:
        dep.problem(f"{name}: {key} points at {host}, which listens on no port")
    elif port != found.port:
        dep.problem(f"{name}: {key} uses port {port} but {host} listens on {found.port}")


def check_commands(dep: Deployment) -> None:
    scripts = console_scripts()
    built_images = {str(s["image"]) for s in dep.services.values() if s.get("build") and s.get("image")}
    for name, svc in dep.services.items():
        argv = command_argv(svc)
        ours = bool(svc.get("build")) or str(svc.get("image", "")) in built_images
        if not ours or not argv:
            continue
        if argv[0] == "clfwatch":
            args, error = parse_clfwatch(argv[1:])
            if args is None:
                dep.problem(f"{name}: command {' '.join(argv)!r} is not a clfwatch command: {error}")
        elif argv[0] in ("python", "python3") and argv[1:2] == ["-m"]:
            if len(argv) < 3 or importlib.util.find_spec(argv[2]) is None:
                dep.problem(f"{name}: module {argv[2] if len(argv) > 2 else ''!r} does not exist")
        elif argv[0] not in scripts:
            dep.problem(f"{name}: {argv[0]!r} is not a console script installed with clfwatch")
        if argv[:2] == ["evidently", "ui"] and environment(svc).get("DO_NOT_TRACK") != "1":
            dep.problem(f"{name}: the Evidently UI needs DO_NOT_TRACK=1 (it sends telemetry otherwise)")


def check_ports(dep: Deployment) -> None:
    seen: dict[int, str] = {}
    for name, svc in dep.services.items():
        found = listener(dep, name, svc)
        for entry in svc.get("ports") or []:
            parsed = published_ports(entry)
            if parsed is None:
                continue
            _ip, host_port, container_port = parsed
            if host_port is not None:
                if host_port in seen:
                    dep.problem(f"host port {host_port} is published by both {seen[host_port]} and {name}")
                seen[host_port] = name
            if found is None:
                dep.problem(f"{name}: publishes {container_port} but listens on no port")
            elif container_port != found.port:
                dep.problem(f"{name}: publishes container port {container_port} but listens on {found.port}")
        if found is not None and found.host not in ALL_INTERFACES:
            dep.problem(
                f"{name}: listens on {found.host} inside its container: other containers cannot reach it"
            )


def check_lifecycle(dep: Deployment) -> None:
    services = dep.services
    for name, svc in services.items():
        one_shot = is_one_shot(name, svc, services)
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for other, spec in deps.items():
            condition = (spec or {}).get("condition", "service_started")
            if other not in services:
                dep.problem(f"{name}: depends on {other!r}, which is not a service")
            elif condition == "service_healthy" and not (services[other].get("healthcheck") or {}).get(
                "test"
            ):
                dep.problem(f"{name}: waits for {other} to be healthy, but {other} has no healthcheck")
            elif condition == "service_completed_successfully" and not is_one_shot(
                other, services[other], services
            ):
                dep.problem(f"{name}: waits for {other} to complete, but {other} is long-running")
            elif condition == "service_started":
                dep.problem(f"{name}: depends on {other} without a health or completion condition")
        argv = command_argv(svc)
        uses_db = argv[:1] == ["clfwatch"] and argv[1:2] != ["service"] and argv[1:3] != ["db", "upgrade"]
        if uses_db and (deps.get("migrate") or {}).get("condition") != "service_completed_successfully":
            dep.problem(f"{name}: uses the database but does not wait for migrate to complete")
        if one_shot:
            if svc.get("ports"):
                dep.problem(f"{name}: a one-shot step publishes ports")
            continue
        restart = str(svc.get("restart", "no"))
        if restart not in LONG_RUNNING_RESTARTS:
            dep.problem(f"{name}: long-running without a restart policy (restart: {restart})")
        health = svc.get("healthcheck") or {}
        test = health.get("test")
        if not test or health.get("disable") or test == ["NONE"]:
            dep.problem(f"{name}: long-running without a healthcheck")
        else:
            check_healthcheck_url(dep, name, svc, test)
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        for key in ("cpus", "memory"):
            if not limits.get(key):
                dep.problem(f"{name}: no deploy.resources.limits.{key}")


def check_healthcheck_url(dep: Deployment, name: str, svc: dict[str, Any], test: Any) -> None:
    words = shlex.split(test) if isinstance(test, str) else [str(t) for t in test]
    for word in words:
        for url in re.findall(r"https?://[^\s'\"]+", word):
            parts = urlsplit(url)
            found = listener(dep, name, svc)
            if parts.hostname not in ("127.0.0.1", "localhost"):
                dep.problem(f"{name}: healthcheck calls {parts.hostname}, not the container itself")
            elif found is None or parts.port != found.port:
                dep.problem(
                    f"{name}: healthcheck calls port {parts.port} but the service listens on "
                    f"{found.port if found else 'no port'}"
                )
        if word.startswith("/app/docker/") and not (dep.root / word.removeprefix("/app/")).is_file():
            dep.problem(f"{name}: healthcheck script {word} does not exist in the repository")


def check_builds_and_volumes(dep: Deployment) -> list[tuple[Path, Path]]:
    """Build contexts, Dockerfiles, bind mounts, named volumes; returns (context, dockerfile) pairs."""
    builds: set[tuple[Path, Path]] = set()
    built_images = {str(s["image"]) for s in dep.services.values() if s.get("build") and s.get("image")}
    declared = set((dep.compose.get("volumes") or {}).keys())
    for name, svc in dep.services.items():
        build = svc.get("build")
        if build is None:
            if str(svc.get("image", "")) in built_images:
                dep.problem(f"{name}: uses the locally built image {svc['image']} without a build section")
            elif not svc.get("image"):
                dep.problem(f"{name}: neither an image nor a build")
        else:
            spec = {"context": build} if isinstance(build, str) else dict(build)
            context = dep.root / str(spec.get("context", "."))
            dockerfile = context / str(spec.get("dockerfile", "Dockerfile"))
            if not context.is_dir():
                dep.problem(f"{name}: build context {spec.get('context')} does not exist")
            elif not dockerfile.is_file():
                dep.problem(f"{name}: Dockerfile {spec.get('dockerfile', 'Dockerfile')} does not exist")
            else:
                builds.add((context, dockerfile))
        for volume in svc.get("volumes") or []:
            source = volume.get("source", "") if isinstance(volume, dict) else str(volume).split(":")[0]
            if source.startswith((".", "/")):
                if not (dep.root / source).exists():
                    dep.problem(f"{name}: bind mount source {source} does not exist")
            elif source and source not in declared:
                dep.problem(f"{name}: named volume {source} is not declared under volumes:")
    return sorted(builds)


def prometheus_config_path(dep: Deployment) -> tuple[str, Path] | None:
    """The compose service running Prometheus and the repository file mounted as its config."""
    for name, svc in dep.services.items():
        if not str(svc.get("image", "")).startswith("prom/prometheus"):
            continue
        config_in_container = option(command_argv(svc), "--config.file") or "/etc/prometheus/prometheus.yml"
        for volume in svc.get("volumes") or []:
            parts = str(volume).split(":")
            if len(parts) >= 2 and parts[1] == config_in_container:
                return name, dep.root / parts[0]
        dep.problem(f"{name}: no repository file is mounted at {config_in_container}")
        return None
    dep.problem("no Prometheus service (image prom/prometheus) in the compose file")
    return None


def mounted_file(svc: dict[str, Any], root: Path, container_path: str) -> Path | None:
    """The repository file bind-mounted at ``container_path`` in a service, or None."""
    for volume in svc.get("volumes") or []:
        parts = str(volume).split(":")
        if len(parts) >= 2 and parts[1] == container_path and parts[0].startswith((".", "/")):
            return root / parts[0]
    return None


def check_alertmanager(dep: Deployment) -> dict[str, Listener]:
    """Each Alertmanager service with a readable config whose routes name real receivers."""
    found: dict[str, Listener] = {}
    for name, svc in dep.services.items():
        if not str(svc.get("image", "")).startswith(ALERTMANAGER_IMAGE):
            continue
        listening = listener(dep, name, svc)
        if listening is not None:
            found[name] = listening
        config_in_container = option(command_argv(svc), "--config.file") or ALERTMANAGER_CONFIG
        path = mounted_file(svc, dep.root, config_in_container)
        if path is None:
            dep.problem(f"{name}: no repository file is mounted at {config_in_container}")
            continue
        if not path.is_file():
            continue  # reported as a missing bind mount source
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            dep.problem(f"{name}: its config {path.name} is not YAML")
            continue
        receivers = {str(r.get("name")) for r in config.get("receivers") or []}
        if not receivers:
            dep.problem(f"{name}: {path.name} defines no receiver")
        routes = [config.get("route") or {}]
        if not config.get("route"):
            dep.problem(f"{name}: {path.name} has no route")
        while routes:
            route = routes.pop()
            wanted = route.get("receiver")
            if wanted is not None and str(wanted) not in receivers:
                dep.problem(f"{name}: {path.name} routes to receiver {wanted!r}, which it does not define")
            routes.extend(route.get("routes") or [])
    if not found:
        dep.problem(f"no Alertmanager service (image {ALERTMANAGER_IMAGE}) in the compose file")
    return found


def check_alerting(dep: Deployment, name: str, svc: dict[str, Any], config: dict[str, Any]) -> None:
    """Prometheus loads rule files that are mounted, and sends alerts to the Alertmanager service."""
    rule_files = [str(r) for r in config.get("rule_files") or []]
    if not rule_files:
        dep.problem("prometheus: loads no alerting rules (rule_files)")
    for rule_file in rule_files:
        source = mounted_file(svc, dep.root, rule_file)
        if source is None:
            dep.problem(f"{name}: rule file {rule_file} is not mounted from the repository")
    managers = check_alertmanager(dep)
    targets = [
        str(t)
        for am in (config.get("alerting") or {}).get("alertmanagers") or []
        for static in am.get("static_configs") or []
        for t in static.get("targets") or []
    ]
    if not targets:
        dep.problem("prometheus: sends alerts to no Alertmanager (alerting.alertmanagers)")
    for target in targets:
        host, _, port = target.rpartition(":")
        if host not in managers:
            dep.problem(f"prometheus: sends alerts to {target}: {host!r} is not an Alertmanager service")
        elif str(managers[host].port) != port:
            dep.problem(
                f"prometheus: sends alerts to {target} but {host} listens on {managers[host].port}"
            )


def check_prometheus(dep: Deployment) -> None:
    found = prometheus_config_path(dep)
    if found is None:
        return
    name, path = found
    if not path.is_file():
        dep.problem(f"{name}: its config {path.name} does not exist")
        return
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    check_alerting(dep, name, dep.services[name], config)
    jobs = {str(j.get("job_name")): j for j in config.get("scrape_configs") or []}
    for job, service in REQUIRED_SCRAPE_JOBS.items():
        if job not in jobs:
            dep.problem(f"prometheus: no scrape job named {job!r} (for the {service} service)")
    for job_name, job in jobs.items():
        if job.get("metrics_path", "/metrics") != "/metrics":
            dep.problem(f"prometheus: job {job_name} scrapes {job['metrics_path']}, not /metrics")
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = str(target).rpartition(":")
                if host not in dep.services:
                    dep.problem(
                        f"prometheus: job {job_name} scrapes {target}: {host!r} is not a compose service"
                    )
                    continue
                listening = listener(dep, host, dep.services[host])
                if listening is None or str(listening.port) != port:
                    dep.problem(
                        f"prometheus: job {job_name} scrapes {target} but {host} listens on "
                        f"{listening.port if listening else 'no port'}"
                    )
                if job_name in REQUIRED_SCRAPE_JOBS and host != REQUIRED_SCRAPE_JOBS[job_name]:
                    expected = REQUIRED_SCRAPE_JOBS[job_name]
                    dep.problem(f"prometheus: job {job_name} scrapes {host}, expected {expected}")


def dockerignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix.split("/")[-1], bare):
                return True
    return False


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    if current:
        joined.append(current)
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in joined]


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell line, split at ``&&``, ``||``, ``;`` and pipes."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def pip_install_args(words: list[str]) -> list[str] | None:
    """The arguments after ``pip install`` (also ``python -m pip install``), or None for another command."""
    for start in range(len(words)):
        head = words[start:start + 2]
        if len(head) == 2 and head[0].rsplit("/", 1)[-1].startswith("pip") and head[1] == "install":
            return words[start + 2:]
        if words[start:start + 2] == ["-m", "pip"] and words[start + 2:start + 3] == ["install"]:
            return words[start + 3:]
    return None


def editable_install(words: list[str]) -> bool:
    """Whether a ``pip install`` command line installs anything editable (``-e``, ``--editable``)."""
    args = pip_install_args(words) or []
    return any(a in ("-e", "--editable") or a.startswith("--editable=")
               or (a.startswith("-e") and not a.startswith("--")) for a in args)


def check_dockerfile(dep: Deployment, context: Path, dockerfile: Path) -> None:
    rel = dockerfile.relative_to(dep.root)
    instructions = dockerfile_instructions(dockerfile.read_text(encoding="utf-8"))
    ignore_file = context / ".dockerignore"
    patterns = [
        ln.strip()
        for ln in (ignore_file.read_text().splitlines() if ignore_file.is_file() else [])
        if ln.strip() and not ln.startswith("#")
    ]
    froms = [args for op, args in instructions if op == "FROM"]
    if not froms or froms[-1].split()[0] != PYTHON_BASE:
        dep.problem(f"{rel}: the image must be FROM {PYTHON_BASE}")
    users = [args.strip() for op, args in instructions if op == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        dep.problem(f"{rel}: the image must end with a non-root USER")
    copied: set[str] = set()
    for op, args in instructions:
        if op == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            for src in words[:-1]:
                src = src.rstrip("/")
                copied.add(src)
                if not (context / src).exists():
                    dep.problem(f"{rel}: COPY {src}: no such file in the build context")
                elif dockerignored(src, patterns):
                    dep.problem(f"{rel}: COPY {src}: excluded by .dockerignore")
        if op == "RUN":
            for words in shell_commands(args):
                if words[:1] == ["clfwatch"]:
                    parsed, error = parse_clfwatch(words[1:])
                    if parsed is None:
                        dep.problem(f"{rel}: RUN {' '.join(words)!r} is not a clfwatch command: {error}")
                if pip_install_args(words) is not None and editable_install(words):
                    dep.problem(f"{rel}: RUN {' '.join(words)!r} installs in place (-e); the image must "
                                "run what a wheel holds: pip install . (no -e)")
    pyproject = tomllib.loads((dep.root / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    needed = ["pyproject.toml", "README.md", *packages]  # what building the package reads
    for item in needed:
        if item not in copied:
            dep.problem(f"{rel}: does not COPY {item}, which building the package needs")
    runs = " ".join(args for op, args in instructions if op == "RUN")
    if "clfwatch service train" not in runs:
        dep.problem(f"{rel}: the reference model is not trained into the image (RUN clfwatch service train)")


def check_deployment(root: Path, *, compose_file: str = COMPOSE_FILE) -> list[str]:
    """Every disagreement between the deployment files under ``root`` and the code, one line each."""
    path = root / compose_file
    try:
        compose = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return [f"{compose_file}: cannot read: {type(exc).__name__}"]
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        return [f"{compose_file}: no services"]
    dep = Deployment(root, compose)
    check_environment(dep)
    check_commands(dep)
    check_ports(dep)
    check_lifecycle(dep)
    for context, dockerfile in check_builds_and_volumes(dep):
        check_dockerfile(dep, context, dockerfile)
    check_prometheus(dep)
    return list(dict.fromkeys(dep.problems))  # one line per problem, in the order found
