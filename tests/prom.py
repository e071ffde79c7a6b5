"""The Debian ``prometheus`` binary on loopback for tests, scraping given targets every second."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port
from tests.servers import process, wait_http

PROMETHEUS_BIN = "prometheus"
SCRAPE_INTERVAL_S = 1
READY_TIMEOUT_S = 60.0


def prometheus_config(jobs: Mapping[str, Sequence[str]], *, interval_s: int = SCRAPE_INTERVAL_S) -> str:
    """A config scraping each job's ``host:port`` targets at ``/metrics`` every ``interval_s``."""
    lines = [
        "global:",
        f"  scrape_interval: {interval_s}s",
        f"  evaluation_interval: {interval_s}s",
        "scrape_configs:",
    ]
    for job, targets in jobs.items():
        quoted = ", ".join(f'"{t}"' for t in targets)
        lines += [
            f"  - job_name: {job}",
            "    metrics_path: /metrics",
            f"    scrape_interval: {interval_s}s",
            f"    scrape_timeout: {interval_s}s",
            f"    static_configs:\n      - targets: [{quoted}]",
        ]
    return "\n".join(lines) + "\n"


@contextmanager
def prometheus(jobs: Mapping[str, Sequence[str]], workdir: Path) -> Iterator[str]:
    """Run Prometheus until the block ends; yields its base URL once ``/-/ready`` answers 200.

    ``jobs`` maps a job name to ``host:port`` targets. Data and log live under ``workdir``;
    the process group is stopped at the end, whatever happened.
    """
    binary = shutil.which(PROMETHEUS_BIN)
    if binary is None:  # a missing binary is a failure, never a skip
        raise RuntimeError("the Debian prometheus binary is not installed (apt-get install prometheus)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(prometheus_config(jobs))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with process(cmd, ready_url=f"{url}/-/healthy", log_path=workdir / "prometheus.log",
                 timeout_s=READY_TIMEOUT_S):
        wait_http(f"{url}/-/ready", timeout_s=READY_TIMEOUT_S, expect=200)
        yield url
