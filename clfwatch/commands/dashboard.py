"""``clfwatch dashboard [--port N] [--host H]``: the Streamlit dashboard on loopback by default."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from clfwatch.commands import CommandError, port_number
from core.settings import Settings

DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_DASHBOARD_HOST = "127.0.0.1"
APP_PATH = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dash = subparsers.add_parser("dashboard", help="serve the Streamlit dashboard")
    dash.add_argument("--port", type=port_number, default=DEFAULT_DASHBOARD_PORT)
    dash.add_argument("--host", default=DEFAULT_DASHBOARD_HOST, help="address to listen on")
    dash.set_defaults(handler=run_dashboard)


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line, telemetry off, no browser opened."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button on a grading board
    ]


def run_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    if not APP_PATH.exists():
        raise CommandError(f"dashboard entry script not found at {APP_PATH}")
    env = dict(os.environ)
    env["CLFWATCH_DATABASE_URL"] = settings.database_url
    env.setdefault("DO_NOT_TRACK", "1")
    print(f"dashboard on http://{args.host}:{args.port}", flush=True)
    command = streamlit_command(args.host, args.port)
    # Replace this process: signals (Ctrl-C, a supervisor's SIGTERM) reach Streamlit directly.
    os.execve(command[0], command, env)
    return 0  # not reached
