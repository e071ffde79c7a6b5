"""A self-registered target is probed only where CLFWATCH_SELF_SERVICE_NETWORKS allows.

Issue 13: a team chooses the URL our prober calls and sees the answer, so every probe of a
self-registered target resolves its host again, refuses an address outside the networks with
an outcome of its own, connects to the address it checked, and follows no redirect.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from core.contract import Outcome
from probes.runner import Prober
from tests.probes.habits import contract_app
from tests.probes.helpers import make_settings, register, rows_of
from tests.servers import uvicorn_thread

LOOPBACK = "127.0.0.0/8"


def seen_app(hosts: list[str], paths: list[str]) -> FastAPI:
    """The contract, noting the Host header and path of every request, plus a redirect out."""
    app = contract_app()

    @app.middleware("http")
    async def note(request: Request, call_next):  # type: ignore[no-untyped-def]
        hosts.append(request.headers.get("host", ""))
        paths.append(request.url.path)
        return await call_next(request)

    @app.get("/moved/health")
    async def moved() -> RedirectResponse:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

    return app


# What these tests check is where a probe goes and with which Host, not how fast: a timeout a busy
# machine could miss (the helpers' 0.4 s, seen once with the server in this process) must not fail them.
GUARD_TEST_TIMEOUT_S = 5.0


def one_round(settings_path: Path, database_url: str, **overrides: object) -> Prober:
    overrides.setdefault("probe_timeout_s", GUARD_TEST_TIMEOUT_S)
    prober = Prober(make_settings(database_url, settings_path, **overrides))
    asyncio.run(prober.run_once())
    return prober


def outcomes(database_url: str, target_id: int) -> Counter[str]:
    return Counter(r.outcome for r in rows_of(database_url, target_id))


def test_default_networks_refuse_loopback_for_team_targets_only(sqlite_url: str, tmp_path: Path) -> None:
    hosts: list[str] = []
    with uvicorn_thread(seen_app(hosts, [])) as base:
        port = base.rsplit(":", 1)[1]
        by_ip = register(sqlite_url, "team-by-ip", base, self_service=True)
        by_name = register(sqlite_url, "team-by-name", f"http://localhost:{port}", self_service=True)
        operator = register(sqlite_url, "operator", base)
        one_round(tmp_path, sqlite_url)  # default networks: public addresses only

    assert outcomes(sqlite_url, by_ip) == {Outcome.REFUSED_ADDRESS: 2}
    assert outcomes(sqlite_url, by_name) == {Outcome.REFUSED_ADDRESS: 2}
    assert outcomes(sqlite_url, operator) == {Outcome.OK: 2}  # the operator's own registrations: not limited
    refused = rows_of(sqlite_url, by_name)[0]
    assert refused.latency_ms is None and refused.status_code is None
    assert "localhost" in (refused.detail or "") and "127.0.0.1" in (refused.detail or "")
    assert len(hosts) == 2  # only the operator's probes reached the server


def test_allowed_networks_probe_the_checked_address_with_the_teams_host(
    sqlite_url: str, tmp_path: Path
) -> None:
    hosts: list[str] = []
    with uvicorn_thread(seen_app(hosts, [])) as base:
        port = base.rsplit(":", 1)[1]
        by_name = register(sqlite_url, "team-by-name", f"http://localhost:{port}", self_service=True)
        one_round(tmp_path, sqlite_url, self_service_networks=LOOPBACK)

    assert outcomes(sqlite_url, by_name) == {Outcome.OK: 2}
    assert hosts == [f"localhost:{port}"] * 2  # pinned to the address, Host header unchanged


def test_a_redirect_out_of_the_networks_is_not_followed(sqlite_url: str, tmp_path: Path) -> None:
    paths: list[str] = []
    with uvicorn_thread(seen_app([], paths)) as base:
        team = register(sqlite_url, "team", base, self_service=True, health_path="/moved/health")
        one_round(tmp_path, sqlite_url, self_service_networks=LOOPBACK)

    health = rows_of(sqlite_url, team, "health")
    assert [(r.outcome, r.status_code) for r in health] == [(Outcome.HTTP_ERROR, 302)]
    assert paths.count("/moved/health") == 1  # asked once, the redirect recorded, not followed
