"""``clfwatch probe run [--once] [--shard K/N]``: the long-running prober."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from clfwatch.commands import CommandError
from core.settings import Settings
from probes.metrics import serve_metrics
from probes.runner import Prober, run_async
from probes.shard import parse_shard
from storage.engine import wait_for_database

log = logging.getLogger(__name__)


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    probe = subparsers.add_parser("probe", help="probe every registered classifier")
    sub = probe.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="probe on schedule until stopped (SIGINT/SIGTERM)")
    run.add_argument("--once", action="store_true", help="one round for all targets, write, exit")
    run.add_argument(
        "--shard", type=_shard, default=(0, 1), metavar="K/N",
        help="probe only targets with id %% N == K (for several replicas)",
    )
    run.set_defaults(handler=run_probe)


async def _run_forever(prober: Prober) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await prober.run(stop)


def run_probe(args: argparse.Namespace, settings: Settings) -> int:
    try:
        wait_for_database(settings.database_url)
    except Exception as exc:
        raise CommandError(f"database not reachable ({type(exc).__name__}); is it running?") from None
    prober = Prober(settings, shard=args.shard)
    if args.once:
        run_async(prober.run_once())
        stats = prober.stats
        written = prober.writer.stats.written
        print(f"probes sent={stats.sent} ok={stats.ok} failed={stats.failed} written={written}")
        return 0
    try:
        server = serve_metrics(settings.probe_metrics_port, settings.probe_metrics_host)
    except OSError:
        raise CommandError(
            f"cannot serve metrics on port {settings.probe_metrics_port} (in use?); "
            "set CLFWATCH_PROBE_METRICS_PORT, or 0 to disable"
        ) from None
    try:
        run_async(_run_forever(prober))
    finally:
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
    return 0
