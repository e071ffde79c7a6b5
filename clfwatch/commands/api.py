"""``clfwatch api [--host H] [--port N]``: the team API (FastAPI on uvicorn), loopback by default."""

from __future__ import annotations

import argparse

from clfwatch.commands import CommandError
from core.settings import Settings

DEFAULT_API_HOST = "127.0.0.1"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    api = subparsers.add_parser("api", help="serve the team API (self-service registration, status, badges)")
    api.add_argument("--host", default=DEFAULT_API_HOST, help="address to listen on")
    api.add_argument("--port", type=int, default=None, help="default: CLFWATCH_API_PORT (8088)")
    api.set_defaults(handler=run_api)


def run_api(args: argparse.Namespace, settings: Settings) -> int:
    port = settings.api_port if args.port is None else args.port
    if not 1 <= port <= 65535:
        raise CommandError(f"--port must be between 1 and 65535, got {port}")
    import uvicorn

    from teamapi.app import create_app

    app = create_app(settings)
    registration = (
        "on" if settings.registration_code is not None else "off (CLFWATCH_REGISTRATION_CODE unset)"
    )
    print(f"team API on http://{args.host}:{port}  ·  self-registration {registration}", flush=True)
    uvicorn.run(app, host=args.host, port=port, log_config=None, access_log=False, server_header=False)
    return 0
