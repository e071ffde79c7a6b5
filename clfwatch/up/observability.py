"""The Evidently UI and Prometheus that ``make up`` runs beside clfwatch, on loopback only.

Prometheus is optional (a Debian package, not a pip one): without its binary ``make up`` says so
in one line and the Live page explains itself. Its configuration is generated on every start,
because the ports it scrapes are the ones this run was given; the job names are the ones the
dashboard's Live page and ``deploy/prometheus/alerts.yml`` query by (``service``, ``prober``),
as in ``deploy/prometheus.yml`` for compose.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from clfwatch.up.common import VAR_DIR, UpError

OBSERVABILITY_HOST = "127.0.0.1"  # neither has authentication: never beyond loopback
DEFAULT_EVIDENTLY_PORT = 8502  # not Evidently's own default (8000), which is too commonly taken
DEFAULT_PROMETHEUS_PORT = 9090
EVIDENTLY_WORKSPACE = VAR_DIR / "evidently"
PROMETHEUS_DIR = VAR_DIR / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
PROMETHEUS_DATA = PROMETHEUS_DIR / "data"
PROMETHEUS_RETENTION = "2d"  # a laptop's make up, not a course's week: the database has the history
SCRAPE_INTERVAL_S = 5
EVALUATION_INTERVAL_S = 15
ALERTS_FILE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_INSTALL = "sudo apt-get install prometheus"
NO_PROMETHEUS = (
    f"prometheus is not on the PATH: starting without it (the Live page stays off); "
    f"install it with `{PROMETHEUS_INSTALL}` and run make up again"
)


def make_evidently_workspace(workspace: Path = EVIDENTLY_WORKSPACE) -> Path:
    """The UI makes its workspace folder only when the first project is stored; made here, it is
    where the README says from the first start."""
    workspace.mkdir(parents=True, exist_ok=True)
    return workspace


def evidently_argv(port: int, workspace: Path = EVIDENTLY_WORKSPACE) -> list[str]:
    """``evidently ui`` of this virtualenv (run it with ``DO_NOT_TRACK=1``: no telemetry)."""
    beside = Path(sys.executable).parent / "evidently"
    binary = str(beside) if beside.is_file() else shutil.which("evidently")
    if binary is None:
        raise UpError("the evidently command is missing from the virtualenv; run make install")
    return [binary, "ui", "--host", OBSERVABILITY_HOST, "--port", str(port), "--workspace", str(workspace)]


def find_prometheus() -> str | None:
    """The ``prometheus`` binary on the PATH, or None."""
    return shutil.which("prometheus")


def prometheus_config(jobs: Mapping[str, str], *, rules: Path | None = ALERTS_FILE) -> str:
    """The configuration scraping ``jobs`` (job name -> ``host:port`` serving ``/metrics``).

    The alert rules are evaluated when their file is there (a checkout; not a plain install).
    There is no Alertmanager under ``make up``: firing alerts show on Prometheus's ``/alerts``.
    """
    config: dict[str, object] = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL_S}s",
            "evaluation_interval": f"{EVALUATION_INTERVAL_S}s",
        },
    }
    if rules is not None and rules.is_file():
        config["rule_files"] = [str(rules.resolve())]
    config["scrape_configs"] = [
        {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [address]}]}
        for job, address in jobs.items()
    ]
    # JSON is YAML: no YAML library needed at run time (pyyaml is only a test dependency here).
    head = "# Written by `make up` (clfwatch.up) at each start, for the ports of that run: edits are lost.\n"
    return head + json.dumps(config, indent=2) + "\n"


def write_prometheus_config(jobs: Mapping[str, str], path: Path = PROMETHEUS_CONFIG) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(prometheus_config(jobs), encoding="utf-8")
    return path


def prometheus_argv(
    binary: str, port: int, config: Path = PROMETHEUS_CONFIG, data: Path = PROMETHEUS_DATA
) -> list[str]:
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={PROMETHEUS_RETENTION}",
        f"--web.listen-address={OBSERVABILITY_HOST}:{port}",
    ]
