"""Which processes ``make up`` runs, on which ports, and whether those ports are free."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass

from clfwatch.up import observability
from clfwatch.up.common import LOG_DIR, UpError, clfwatch_argv, url_host
from clfwatch.up.supervise import ChildSpec

DEFAULT_HOST = "127.0.0.1"
DEFAULT_SERVICE_PORT = 8080
DEFAULT_SLOW_PORT = 8081
DEFAULT_FLAKY_PORT = 8082
DEFAULT_DASHBOARD_PORT = 8501


@dataclass(frozen=True)
class Ports:
    """Every port of one run; ``prometheus`` is None when there is no binary to run."""

    service: int
    slow: int
    flaky: int
    llm: int  # the demo LLM (clfwatch service llm)
    prober_metrics: int
    api: int
    dashboard: int
    evidently: int
    prometheus: int | None

    def by_flag(self) -> dict[str, int]:
        """Flag name (``--NAME-port``) -> port, for the checks and their messages."""
        named = {
            "service": self.service,
            "slow": self.slow,
            "flaky": self.flaky,
            "llm": self.llm,
            "prober-metrics": self.prober_metrics,
            "api": self.api,
            "dashboard": self.dashboard,
            "evidently": self.evidently,
        }
        if self.prometheus is not None:
            named["prometheus"] = self.prometheus
        return named


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


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


def check_all_ports(host: str, ports: Ports) -> None:
    """Refuse a busy or duplicate port before anything starts; the Evidently UI and Prometheus
    always listen on loopback, whatever ``--host`` says, so theirs are checked there too."""
    check_ports(host, ports.by_flag())
    if host not in ("", "0.0.0.0", observability.OBSERVABILITY_HOST):
        loopback_only = {k: v for k, v in ports.by_flag().items() if k in ("evidently", "prometheus")}
        check_ports(observability.OBSERVABILITY_HOST, loopback_only)


def scrape_jobs(host: str, ports: Ports) -> dict[str, str]:
    """Every long-running clfwatch process with ``/metrics``, by the job names the Live page and
    the alert rules use. The demo targets, the demo LLM and the dashboard have no ``/metrics``."""
    reach = url_host(host)
    return {
        "service": f"{reach}:{ports.service}",
        "prober": f"{reach}:{ports.prober_metrics}",
        "api": f"{reach}:{ports.api}",
    }


def child_specs(
    host: str, ports: Ports, prometheus: str | None
) -> tuple[list[ChildSpec], list[ChildSpec]]:
    """The targets, the Evidently UI and Prometheus first, then the prober, API and dashboard."""
    reach = url_host(host)
    obs = url_host(observability.OBSERVABILITY_HOST)

    def spec(
        name: str, label: str, argv: list[str], port: int, path: str, needs_200: bool = True, at: str = reach
    ) -> ChildSpec:
        return ChildSpec(name, label, argv, f"http://{at}:{port}", path, needs_200, LOG_DIR / f"{name}.log")

    def on(port: int) -> list[str]:
        return ["--host", host, "--port", str(port)]

    demo = [sys.executable, "-m", "clfwatch.demo"]
    first = [
        spec(
            "service",
            "reference service",
            clfwatch_argv("service", "serve", *on(ports.service)),
            ports.service,
            "/health",
        ),
        spec("demo-slow", "demo target (slow)", [*demo, "slow", *on(ports.slow)], ports.slow, "/health"),
        spec(
            "demo-flaky",
            "demo target (flaky)",
            [*demo, "flaky", *on(ports.flaky)],
            ports.flaky,
            "/health",
            needs_200=False,
        ),
        spec(
            "demo-llm",
            "demo LLM (openai-chat)",
            clfwatch_argv("service", "llm", *on(ports.llm)),
            ports.llm,
            "/health",
        ),
        spec(
            "evidently",
            "Evidently UI",
            observability.evidently_argv(ports.evidently),
            ports.evidently,
            "/api/version",
            at=obs,
        ),
    ]
    if prometheus is not None and ports.prometheus is not None:
        first.append(
            spec(
                "prometheus",
                "Prometheus",
                observability.prometheus_argv(prometheus, ports.prometheus),
                ports.prometheus,
                "/-/ready",
                at=obs,
            )
        )
    watchers = [
        spec("prober", "prober metrics", clfwatch_argv("probe", "run"), ports.prober_metrics, "/metrics"),
        spec("api", "team API", clfwatch_argv("api", *on(ports.api)), ports.api, "/health"),
        spec(
            "dashboard",
            "dashboard",
            clfwatch_argv("dashboard", *on(ports.dashboard)),
            ports.dashboard,
            "/_stcore/health",
        ),
    ]
    return first, watchers
