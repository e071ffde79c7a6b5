"""``clfwatch probe run [--once] [--shard K/N|auto]``: the long-running prober."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket

from clfwatch.commands import CommandError
from core.settings import Settings
from probes.metrics import serve_metrics
from probes.runner import Prober, run_async
from probes.shard import AUTO, ordinal_from_hostname, parse_shard
from storage.engine import wait_for_database

log = logging.getLogger(__name__)


def _shard(text: str) -> tuple[int, int] | str:
    if text == AUTO:
        return AUTO
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _peer_ordinal(shard: tuple[int, int] | str) -> int | None:
    """The ordinal for ``--shard auto``: from $HOSTNAME (a pod's name), else the host's name."""
    if shard != AUTO:
        return None
    try:
        return ordinal_from_hostname(os.environ.get("HOSTNAME") or socket.gethostname())
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    probe = subparsers.add_parser("probe", help="probe every registered classifier")
    sub = probe.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="probe on schedule until stopped (SIGINT/SIGTERM)")
    run.add_argument("--once", action="store_true", help="one round for all targets, write, exit")
    run.add_argument(
        "--shard", type=_shard, default=(0, 1), metavar="K/N|auto",
        help="probe only replica K's share of N (rendezvous hashing on the target id); auto: the "
        "ordinal from the host name (clfwatch-prober-K), the peers from the live probers",
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
    peer_ordinal = _peer_ordinal(args.shard)
    shard = args.shard if peer_ordinal is None else (0, 1)
    prober = Prober(settings, shard=shard, peer_ordinal=peer_ordinal)
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
