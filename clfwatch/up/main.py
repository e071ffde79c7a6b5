"""The command line of ``make up`` and the order of its steps."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Sequence

from clfwatch.up import observability
from clfwatch.up.common import LOG_DIR, StopFlag, StopRequested, UpError, say, url_host
from clfwatch.up.plan import (
    DEFAULT_DASHBOARD_PORT,
    DEFAULT_FLAKY_PORT,
    DEFAULT_HOST,
    DEFAULT_SERVICE_PORT,
    DEFAULT_SLOW_PORT,
    Ports,
    check_all_ports,
    child_specs,
    scrape_jobs,
)
from clfwatch.up.prepare import (
    FLAKY_TARGET,
    LLM_TARGET,
    REFERENCE_TARGET,
    SLOW_TARGET,
    ensure_eval_set,
    ensure_model,
    ensure_secrets,
    ensure_targets,
    migrate,
)
from clfwatch.up.summary import print_summary
from clfwatch.up.supervise import Child, start_child, stop_children, wait_ready, watch
from core.settings import DEFAULT_API_PORT, Settings, SettingsError, get_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clfwatch.up",
        description=(
            "Bring clfwatch up on SQLite: reference service, two demo targets, the demo LLM, prober, "
            "team API, "
            "dashboard, Evidently UI and (when installed) Prometheus."
        ),
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address every clfwatch process listens on")
    parser.add_argument("--service-port", type=int, default=DEFAULT_SERVICE_PORT)
    parser.add_argument("--dashboard-port", type=int, default=DEFAULT_DASHBOARD_PORT)
    parser.add_argument("--slow-port", type=int, default=DEFAULT_SLOW_PORT)
    parser.add_argument("--flaky-port", type=int, default=DEFAULT_FLAKY_PORT)
    parser.add_argument("--llm-port", type=int, help="demo LLM; default: CLFWATCH_DEMO_LLM_PORT (38300)")
    parser.add_argument("--prober-metrics-port", type=int, help="default: CLFWATCH_PROBE_METRICS_PORT (9101)")
    parser.add_argument(
        "--api-port", type=int, help=f"team API; default: CLFWATCH_API_PORT ({DEFAULT_API_PORT})"
    )
    parser.add_argument(
        "--evidently-port",
        type=int,
        default=observability.DEFAULT_EVIDENTLY_PORT,
        help="Evidently UI, always on 127.0.0.1",
    )
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=observability.DEFAULT_PROMETHEUS_PORT,
        help="Prometheus, always on 127.0.0.1 (started when the prometheus binary is on the PATH)",
    )
    return parser


def child_env(
    secrets_env: dict[str, str], ports: Ports, host: str, prometheus: str | None
) -> dict[str, str]:
    """The environment of every child: the secrets, where the prober listens, where the Evidently
    UI and Prometheus of this run are (the dashboard reads both; whatever pushes reports, the UI)."""
    env = dict(os.environ)
    env.update(secrets_env)
    env["CLFWATCH_PROBE_METRICS_PORT"] = str(ports.prober_metrics)
    env["CLFWATCH_PROBE_METRICS_HOST"] = host
    env["PYTHONUNBUFFERED"] = "1"
    env["DO_NOT_TRACK"] = "1"  # the Evidently UI and library send telemetry otherwise
    obs = url_host(observability.OBSERVABILITY_HOST)
    env["CLFWATCH_EVIDENTLY_URL"] = f"http://{obs}:{ports.evidently}"
    if prometheus is not None:
        env["CLFWATCH_PROMETHEUS_URL"] = f"http://{obs}:{ports.prometheus}"
    return env


def run(args: argparse.Namespace, settings: Settings, stop: StopFlag) -> int:
    prometheus = observability.find_prometheus()
    ports = Ports(
        service=args.service_port,
        slow=args.slow_port,
        flaky=args.flaky_port,
        llm=args.llm_port or settings.demo_llm_port,
        prober_metrics=args.prober_metrics_port or settings.probe_metrics_port,
        api=args.api_port or settings.api_port,
        dashboard=args.dashboard_port,
        evidently=args.evidently_port,
        prometheus=args.prometheus_port if prometheus else None,
    )
    check_all_ports(args.host, ports)
    reach = url_host(args.host)
    migrate(settings)
    ensure_model(settings, stop)
    ensure_eval_set(settings)
    ensure_targets(
        settings,
        {
            REFERENCE_TARGET: f"http://{reach}:{ports.service}",
            SLOW_TARGET: f"http://{reach}:{ports.slow}",
            FLAKY_TARGET: f"http://{reach}:{ports.flaky}",
            LLM_TARGET: f"http://{reach}:{ports.llm}",
        },
    )
    keys = ensure_secrets(settings)
    if stop.is_set:
        raise StopRequested

    env = child_env(keys.env(), ports, args.host, prometheus)
    observability.make_evidently_workspace()
    if prometheus is None:
        say(observability.NO_PROMETHEUS)
    else:
        observability.write_prometheus_config(scrape_jobs(args.host, ports))
    first, watchers = child_specs(args.host, ports, prometheus)
    say(f"step 6/6: starting {len(first) + len(watchers)} processes; logs in {LOG_DIR.resolve()}/")
    children: list[Child] = []
    try:
        for group in (first, watchers):
            started = [start_child(spec, env) for spec in group]
            children.extend(started)
            wait_ready(started, stop)
        print_summary(children, keys)
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
