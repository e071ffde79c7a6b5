"""docker-compose.yml, deploy/prometheus.yml and docker/Dockerfile agree with the code.

The real files must give no problem; deliberately broken copies must each give the problem
they were broken for, so the checker is shown to catch what it claims to catch.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.deploy.compose_check import (
    check_deployment,
    dockerignored,
    interpolate,
    published_ports,
    shell_commands,
)

Mutation = Callable[[dict[str, Any], dict[str, Any]], None]


def load(path: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / path).read_text(encoding="utf-8"))


def broken_copy(tmp_path: Path, mutate: Mutation) -> Path:
    """A copy of the repository root (symlinks) with a mutated compose file and Prometheus config."""
    compose, prom = load("docker-compose.yml"), load("deploy/prometheus.yml")
    compose, prom = copy.deepcopy(compose), copy.deepcopy(prom)
    mutate(compose, prom)
    root = tmp_path / "repo"
    root.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.name not in ("docker-compose.yml", "deploy", ".git", ".venv"):
            os.symlink(entry, root / entry.name)
    (root / "deploy").mkdir()
    for entry in (REPO_ROOT / "deploy").iterdir():  # rules, Alertmanager: as they are
        if entry.name != "prometheus.yml":
            os.symlink(entry, root / "deploy" / entry.name)
    (root / "deploy" / "prometheus.yml").write_text(yaml.safe_dump(prom), encoding="utf-8")
    (root / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False), encoding="utf-8")
    return root


def svc(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return compose["services"][name]


def job(prom: dict[str, Any], name: str) -> dict[str, Any]:
    return next(j for j in prom["scrape_configs"] if j["job_name"] == name)


def set_env(service: str, key: str, value: str | None) -> Mutation:
    def mutate(compose: dict[str, Any], _prom: dict[str, Any]) -> None:
        env = svc(compose, service)["environment"]
        if value is None:
            env.pop(key)
        else:
            env[key] = value

    return mutate


def rename_env(service: str, old: str, new: str) -> Mutation:
    def mutate(compose: dict[str, Any], _prom: dict[str, Any]) -> None:
        env = svc(compose, service)["environment"]
        env[new] = env.pop(old)

    return mutate


def set_key(service: str, key: str, value: Any) -> Mutation:
    def mutate(compose: dict[str, Any], _prom: dict[str, Any]) -> None:
        if value is None:
            svc(compose, service).pop(key)
        else:
            svc(compose, service)[key] = value

    return mutate


def scrape(job_name: str, targets: list[str]) -> Mutation:
    def mutate(_compose: dict[str, Any], prom: dict[str, Any]) -> None:
        job(prom, job_name)["static_configs"] = [{"targets": targets}]

    return mutate


def set_prom(key: str, value: Any) -> Mutation:
    def mutate(_compose: dict[str, Any], prom: dict[str, Any]) -> None:
        if value is None:
            prom.pop(key)
        else:
            prom[key] = value

    return mutate


def alert_to(targets: list[str]) -> Mutation:
    return set_prom("alerting", {"alertmanagers": [{"static_configs": [{"targets": targets}]}]})


def drop_service(name: str) -> Mutation:
    def mutate(compose: dict[str, Any], _prom: dict[str, Any]) -> None:
        compose["services"].pop(name)
        for other in compose["services"].values():
            deps = other.get("depends_on")
            if isinstance(deps, dict):
                deps.pop(name, None)

    return mutate


def rename_job(old: str, new: str) -> Mutation:
    def mutate(_compose: dict[str, Any], prom: dict[str, Any]) -> None:
        job(prom, old)["job_name"] = new

    return mutate


def drop_limit(service: str, key: str) -> Mutation:
    def mutate(compose: dict[str, Any], _prom: dict[str, Any]) -> None:
        svc(compose, service)["deploy"]["resources"]["limits"].pop(key)

    return mutate


def drop_dependency(service: str, dependency: str) -> Mutation:
    def mutate(compose: dict[str, Any], _prom: dict[str, Any]) -> None:
        svc(compose, service)["depends_on"].pop(dependency)

    return mutate


def db_url(url: str) -> Mutation:
    return set_env("prober", "CLFWATCH_DATABASE_URL", url)


PG_URL = "postgresql+psycopg://clfwatch:${POSTGRES_PASSWORD:?x}@%s/clfwatch"

BROKEN = [
    # (case, mutation, a problem the checker must report)
    (
        "misspelt setting",
        rename_env("dashboard", "CLFWATCH_PROMETHEUS_URL", "CLFWATCH_PROMETHEUS_ULR"),
        "CLFWATCH_PROMETHEUS_ULR is not a clfwatch setting",
    ),
    (
        "dashboard setting missing",
        set_env("dashboard", "CLFWATCH_EVIDENTLY_URL", None),
        "the dashboard needs CLFWATCH_EVIDENTLY_URL",
    ),
    (
        "invalid setting value",
        set_env("prober", "CLFWATCH_PROBE_METRICS_PORT", "ninety"),
        "CLFWATCH_PROBE_METRICS_PORT with its compose default is invalid",
    ),
    (
        "empty default is invalid",
        set_env("dashboard", "CLFWATCH_DEFENSE_AT", "${CLFWATCH_DEFENSE_AT:-}"),
        "CLFWATCH_DEFENSE_AT with its compose default is invalid",
    ),
    (
        "no database URL",
        set_env("prober", "CLFWATCH_DATABASE_URL", None),
        "prober: CLFWATCH_DATABASE_URL is not set",
    ),
    ("SQLite in a container", db_url("sqlite:///./clfwatch.db"), "must be postgresql+psycopg://"),
    ("database host unknown", db_url(PG_URL % "db:5432"), "points at 'db', which is not a compose service"),
    ("database port wrong", db_url(PG_URL % "postgres:5433"), "uses port 5433 but postgres listens on 5432"),
    (
        "literal secret",
        set_env("postgres", "POSTGRES_PASSWORD", "hunter2"),
        "POSTGRES_PASSWORD must take POSTGRES_PASSWORD as ${POSTGRES_PASSWORD:?message}",
    ),
    (
        "optional admin password",
        set_env("dashboard", "CLFWATCH_ADMIN_PASSWORD", "${CLFWATCH_ADMIN_PASSWORD:-}"),
        "must take CLFWATCH_ADMIN_PASSWORD as ${CLFWATCH_ADMIN_PASSWORD:?message}",
    ),
    (
        "duplicate host port",
        set_key("dashboard", "ports", ["8080:8501"]),
        "host port 8080 is published by both service and dashboard",
    ),
    (
        "published port not listened on",
        set_key("dashboard", "ports", ["8501:8502"]),
        "dashboard: publishes container port 8502 but listens on 8501",
    ),
    (
        "scrape target on a wrong port",
        scrape("prober", ["prober:9102"]),
        "job prober scrapes prober:9102 but prober listens on 9101",
    ),
    (
        "scrape target not a service",
        scrape("service", ["reference:8080"]),
        "'reference' is not a compose service",
    ),
    (
        "prober moved, scrape not",
        set_env("prober", "CLFWATCH_PROBE_METRICS_PORT", "9102"),
        "job prober scrapes prober:9101 but prober listens on 9102",
    ),
    ("required job missing", rename_job("prober", "probes"), "no scrape job named 'prober'"),
    (
        "listens on loopback in a container",
        set_key("dashboard", "command", ["clfwatch", "dashboard", "--host", "127.0.0.1", "--port", "8501"]),
        "dashboard: listens on 127.0.0.1 inside its container",
    ),
    (
        "prober metrics on loopback",
        set_env("prober", "CLFWATCH_PROBE_METRICS_HOST", "127.0.0.1"),
        "prober: listens on 127.0.0.1 inside its container",
    ),
    (
        "not a command",
        set_key("service", "command", ["clfwatch", "service", "serv"]),
        "service: command 'clfwatch service serv' is not a clfwatch command",
    ),
    (
        "unknown option",
        set_key("prober", "command", ["clfwatch", "probe", "run", "--everyone"]),
        "is not a clfwatch command",
    ),
    (
        "unknown console script",
        set_key("evidently", "command", ["evidentlyy", "ui"]),
        "'evidentlyy' is not a console script",
    ),
    ("telemetry on", set_key("evidently", "environment", {}), "DO_NOT_TRACK=1"),
    ("no healthcheck", set_key("prober", "healthcheck", None), "prober: long-running without a healthcheck"),
    (
        "healthcheck on a wrong port",
        set_key(
            "service",
            "healthcheck",
            {"test": ["CMD", "python", "/app/docker/healthcheck.py", "http://127.0.0.1:8081/health"]},
        ),
        "service: healthcheck calls port 8081 but the service listens on 8080",
    ),
    ("no memory limit", drop_limit("dashboard", "memory"), "dashboard: no deploy.resources.limits.memory"),
    ("no cpu limit", drop_limit("postgres", "cpus"), "postgres: no deploy.resources.limits.cpus"),
    (
        "no restart policy",
        set_key("prober", "restart", None),
        "prober: long-running without a restart policy",
    ),
    (
        "healthy dependency without healthcheck",
        set_key("postgres", "healthcheck", None),
        "waits for postgres to be healthy, but postgres has no healthcheck",
    ),
    (
        "does not wait for the migration",
        drop_dependency("dashboard", "migrate"),
        "dashboard: uses the database but does not wait for migrate",
    ),
    (
        "missing Dockerfile",
        set_key("prober", "build", {"context": ".", "dockerfile": "docker/Nope"}),
        "Dockerfile docker/Nope does not exist",
    ),
    (
        "missing build context",
        set_key("prober", "build", {"context": "nowhere"}),
        "build context nowhere does not exist",
    ),
    (
        "local image without build",
        set_key("evidently", "build", None),
        "evidently: uses the locally built image clfwatch:latest without a build section",
    ),
    ("no alerting rules", set_prom("rule_files", None), "prometheus: loads no alerting rules"),
    (
        "rule file not mounted",
        set_key("prometheus", "volumes", ["./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro"]),
        "prometheus: rule file /etc/prometheus/alerts.yml is not mounted from the repository",
    ),
    ("no alertmanager wired", set_prom("alerting", None), "sends alerts to no Alertmanager"),
    (
        "alertmanager on a wrong port",
        alert_to(["alertmanager:9094"]),
        "sends alerts to alertmanager:9094 but alertmanager listens on 9093",
    ),
    (
        "alerts to a service that is not alertmanager",
        alert_to(["prober:9101"]),
        "'prober' is not an Alertmanager service",
    ),
    (
        "no alertmanager service",
        drop_service("alertmanager"),
        "no Alertmanager service (image prom/alertmanager)",
    ),
    (
        "alertmanager config not mounted",
        set_key("alertmanager", "volumes", []),
        "alertmanager: no repository file is mounted at /etc/alertmanager/alertmanager.yml",
    ),
    (
        "alertmanager config missing",
        set_key("alertmanager", "volumes", ["./deploy/nope.yml:/etc/alertmanager/alertmanager.yml:ro"]),
        "alertmanager: bind mount source ./deploy/nope.yml does not exist",
    ),
    (
        "missing Prometheus config",
        set_key("prometheus", "volumes", ["./deploy/nope.yml:/etc/prometheus/prometheus.yml:ro"]),
        "bind mount source ./deploy/nope.yml does not exist",
    ),
]


def test_real_files_agree_with_the_code() -> None:
    assert check_deployment(REPO_ROOT) == []


def test_unmodified_copy_is_clean(tmp_path: Path) -> None:
    """The copying itself adds no problem, so the broken cases below fail for their own reason."""
    assert check_deployment(broken_copy(tmp_path, lambda c, p: None)) == []


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in BROKEN], ids=[c for c, _, _ in BROKEN]
)
def test_broken_copy_is_caught(tmp_path: Path, mutate: Mutation, expected: str) -> None:
    problems = check_deployment(broken_copy(tmp_path, mutate))
    assert any(expected in p for p in problems), "\n".join(problems)


DOCKERFILE_BREAKS = [
    ("root user", lambda t: t.replace("USER clfwatch", "USER root"), "must end with a non-root USER"),
    (
        "other base",
        lambda t: t.replace("FROM python:3.11-slim", "FROM python:3.12"),
        "must be FROM python:3.11-slim",
    ),
    ("package not copied", lambda t: t.replace("COPY scoring/ /src/scoring/\n", ""), "does not COPY scoring"),
    (
        "copy of a missing file",
        lambda t: t.replace("COPY scoring/ /src/scoring/", "COPY scorink/ /src/scoring/"),
        "COPY scorink: no such file",
    ),
    (
        "editable install",
        lambda t: t.replace("pip install --no-deps /src", "pip install --no-deps -e /src"),
        "installs in place (-e)",
    ),
    (
        "editable install, long option",
        lambda t: t.replace("pip install --no-deps /src", "python -m pip install --editable /src"),
        "installs in place (-e)",
    ),
    (
        "model not trained",
        lambda t: t.replace("RUN clfwatch service train", "RUN true"),
        "model is not trained",
    ),
    (
        "bad clfwatch command",
        lambda t: t.replace("clfwatch service train", "clfwatch service trian"),
        "is not a clfwatch command",
    ),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [(e, x) for _, e, x in DOCKERFILE_BREAKS], ids=[c for c, _, _ in DOCKERFILE_BREAKS]
)
def test_broken_dockerfile_is_caught(tmp_path: Path, edit: Callable[[str], str], expected: str) -> None:
    root = broken_copy(tmp_path, lambda c, p: None)
    (root / "docker").unlink()
    (root / "docker").mkdir()
    original = (REPO_ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    edited = edit(original)
    assert edited != original, "the edit no longer applies to docker/Dockerfile"
    (root / "docker" / "Dockerfile").write_text(edited, encoding="utf-8")
    os.symlink(REPO_ROOT / "docker" / "healthcheck.py", root / "docker" / "healthcheck.py")
    problems = check_deployment(root)
    assert any(expected in p for p in problems), "\n".join(problems)


def test_dockerignore_excluding_needed_code_is_caught(tmp_path: Path) -> None:
    root = broken_copy(tmp_path, lambda c, p: None)
    (root / ".dockerignore").unlink()
    (root / ".dockerignore").write_text((REPO_ROOT / ".dockerignore").read_text() + "service\n")
    problems = check_deployment(root)
    assert any("COPY service: excluded by .dockerignore" in p for p in problems), "\n".join(problems)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("${A:-dflt}", "dflt"),
        ("${A-dflt}", "dflt"),
        ("x${A:?required}y", "xSECRETy"),
        ("${A:+alt}", ""),
        ("$${NOT_A_VAR}", "${NOT_A_VAR}"),
        ("${A}", ""),
    ],
)
def test_interpolate(raw: str, expected: str) -> None:
    assert interpolate(raw, secret="SECRET")[0] == expected


def test_interpolate_flags_unset_plain_variable() -> None:
    assert interpolate("${A}")[1] and not interpolate("${A:-x}")[1]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("8080:8080", ("", 8080, 8080)),
        ("127.0.0.1:9090:9090", ("127.0.0.1", 9090, 9090)),
        ("8501", ("", None, 8501)),
        ("8502:8502/tcp", ("", 8502, 8502)),
        ({"target": 80, "published": "8000", "host_ip": "127.0.0.1"}, ("127.0.0.1", 8000, 80)),
    ],
)
def test_published_ports(entry: Any, expected: tuple[str, int | None, int]) -> None:
    assert published_ports(entry) == expected


@pytest.mark.parametrize(
    ("path", "patterns", "ignored"),
    [
        ("service/data", ["tests"], False),
        ("tests/x.py", ["tests"], True),
        ("clfwatch/__pycache__/a.pyc", ["**/__pycache__"], True),
        ("clfwatch.egg-info", ["*.egg-info"], True),
        ("README.md", ["*.db"], False),
    ],
)
def test_dockerignored(path: str, patterns: list[str], ignored: bool) -> None:
    assert dockerignored(path, patterns) is ignored


def test_shell_commands_split_at_operators() -> None:
    script = "python -c \"print('a; b')\" > /tmp/x && clfwatch service train; true | cat"
    assert shell_commands(script) == [
        ["python", "-c", "print('a; b')", ">", "/tmp/x"],
        ["clfwatch", "service", "train"],
        ["true"],
        ["cat"],
    ]


def test_alertmanager_route_to_an_undefined_receiver_is_caught(tmp_path: Path) -> None:
    root = broken_copy(tmp_path, lambda c, p: None)
    config = yaml.safe_load((REPO_ROOT / "deploy" / "alertmanager.yml").read_text(encoding="utf-8"))
    config["route"]["receiver"] = "nobody"
    (root / "deploy" / "alertmanager.yml").unlink()
    (root / "deploy" / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    problems = check_deployment(root)
    assert problems == [
        "alertmanager: alertmanager.yml routes to receiver 'nobody', which it does not define"
    ]
