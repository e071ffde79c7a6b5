"""The team API end to end over HTTP on SQLite and Postgres.

The app runs in this process on a real uvicorn (tests/teamapi/server.py); the command itself,
``clfwatch api`` in its own process, is started once, by test_the_clfwatch_api_command.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from storage.engine import session_scope
from storage.models import Target
from storage.probes import ProbeRow, record_probes
from teamapi import service
from tests.conftest import REPO_ROOT
from tests.servers import free_port, process
from tests.teamapi.server import api_settings, check_log, running_api, serve_api

CODE = "course-code-5c1e9a"
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
COURSE_LATIN = "PROD_ML_FALL_25|IVANOV_PETROV"
COURSE_CYRILLIC = "PROD_ML_FALL_25|ИВАНОВ_ПЕТРОВ"
TEAMS = "/api/v1/teams"
ME = "/api/v1/teams/me"

Api = Callable[..., httpx.Client]


@pytest.fixture
def start_api(db_url: str) -> Iterator[Api]:
    """Serve the team API in this process with the given settings; yields a client on its base URL.

    Each call is a fresh app (its own limiter, board cache, metrics) on ``db_url``, its log
    checked when the test ends: no traceback, and the code never reaches it.
    """
    with contextlib.ExitStack() as stack:

        def start(**settings: str) -> httpx.Client:
            url = stack.enter_context(serve_api(api_settings(database_url=db_url, **settings), hidden=[CODE]))
            return stack.enter_context(httpx.Client(base_url=url, timeout=30))

        yield start


@pytest.fixture
def api(start_api: Api) -> httpx.Client:
    """The API with self-registration on, loopback allowed (tests only), a public board."""
    return start_api(registration_code=CODE, self_service_networks=LOOPBACK_NETWORKS, public_board="true")


def register(
    client: httpx.Client, name: str, url: str = "http://127.0.0.1:9", **extra: object
) -> httpx.Response:
    return client.post(TEAMS, json={"name": name, "url": url, "registration_code": CODE, **extra})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def seed_probes(db_url: str, target_id: int, *, failed: int, ok: int) -> None:
    now = datetime.now(UTC)
    rows = []
    for i in range(failed):
        rows.append(ProbeRow(
            probe_uid=str(uuid.uuid4()), target_id=target_id, kind="predict" if i % 2 else "health",
            started_at=now - timedelta(seconds=10 * (i + 1)), outcome="http_error", status_code=500,
            latency_ms=3.0, detail="answered 500", body_excerpt=f"Traceback number {i}",
        ))
    for i in range(ok):
        rows.append(ProbeRow(
            probe_uid=str(uuid.uuid4()), target_id=target_id, kind="health",
            started_at=now - timedelta(seconds=5 * (i + 1)), outcome="ok", status_code=200, latency_ms=2.0,
        ))
    with session_scope(db_url) as session:
        record_probes(session, rows)


def test_register_with_course_names_and_read_me(api: httpx.Client, db_url: str) -> None:
    created = {}
    for name in (COURSE_LATIN, COURSE_CYRILLIC):
        r = register(api, name)
        assert r.status_code == 201, r.text
        body = r.json()
        assert set(body) == {"id", "name", "key"} and body["name"] == name and len(body["key"]) >= 32
        created[name] = body
    assert created[COURSE_LATIN]["key"] != created[COURSE_CYRILLIC]["key"]
    with session_scope(db_url) as session:
        stored = {t.name: t for t in session.scalars(select(Target))}
        for name, body in created.items():
            assert stored[name].self_service is True
            assert stored[name].key_hash and body["key"] not in stored[name].key_hash  # only a hash

    team = created[COURSE_CYRILLIC]
    seed_probes(db_url, team["id"], failed=60, ok=5)
    r = api.get(ME, headers=bearer(team["key"]))
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["target"]["name"] == COURSE_CYRILLIC and me["target"]["id"] == team["id"]
    assert me["target"]["url"] == "http://127.0.0.1:9" and me["target"]["has_token"] is False
    registered = datetime.fromisoformat(me["registered_at"])
    assert abs((datetime.now(UTC) - registered).total_seconds()) < 120
    assert me["lifetime_s"] is not None and me["lifetime_s"] >= 0
    assert set(me["grade"]["components"]) == {"latency", "uptime", "rate200", "auc"}
    assert me["grade"]["of"] == 2 and "total" in me["grade"] and "multiplier" in me["grade"]
    failures = me["failed_probes"]
    assert len(failures) == 50  # the newest 50 of 60
    assert [f["started_at"] for f in failures] == sorted((f["started_at"] for f in failures), reverse=True)
    assert failures[0] == {
        "started_at": failures[0]["started_at"], "kind": "health", "outcome": "http_error", "status": 500,
        "latency_ms": 3.0, "detail": "answered 500", "body_excerpt": "Traceback number 0",
    }
    assert "key_hash" not in r.text and "key_issued" not in r.text
    assert team["key"] not in r.text


def test_change_url_and_name_keeps_id_history_and_registration(api: httpx.Client, db_url: str) -> None:
    team = register(api, COURSE_LATIN, token="first-token-9d2").json()
    seed_probes(db_url, team["id"], failed=3, ok=0)
    before = api.get(ME, headers=bearer(team["key"])).json()
    r = api.patch(ME, headers=bearer(team["key"]),
                  json={"url": "http://127.0.0.2:8190", "name": "PROD_ML_FALL_25|СИДОРОВ_ПЕТРОВ"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "PROD_ML_FALL_25|СИДОРОВ_ПЕТРОВ" and r.json()["url"] == "http://127.0.0.2:8190"
    r = api.patch(ME, headers=bearer(team["key"]), json={"token": None, "template": None})
    assert r.status_code == 200, r.text
    after = api.get(ME, headers=bearer(team["key"])).json()
    assert after["target"]["id"] == before["target"]["id"] == team["id"]
    assert after["registered_at"] == before["registered_at"]
    assert after["target"]["has_token"] is False
    assert len(after["failed_probes"]) == 3  # history kept
    changes = after["changes"]
    assert all(c["actor"] == "team" for c in changes)
    changed_fields = [set(c["fields"]) for c in changes]
    assert any({"base_url", "name"} <= f for f in changed_fields), changes
    assert any("token" in f for f in changed_fields), changes
    assert "first-token-9d2" not in str(after)


def test_a_new_key_stops_the_old_one_at_once(api: httpx.Client) -> None:
    team = register(api, COURSE_LATIN).json()
    r = api.post(f"{ME}/key", headers=bearer(team["key"]))
    assert r.status_code == 201, r.text
    fresh = r.json()["key"]
    assert fresh != team["key"]
    old = api.get(ME, headers=bearer(team["key"]))
    assert old.status_code == 401 and old.headers["www-authenticate"] == "Bearer"
    assert set(old.json()) == {"detail"}
    assert api.get(ME, headers=bearer(fresh)).json()["target"]["id"] == team["id"]
    assert api.patch(ME, headers=bearer(team["key"]), json={"url": "http://127.0.0.3"}).status_code == 401


def test_wrong_code_is_403_and_a_burst_of_failures_is_429(api: httpx.Client) -> None:
    wrong = {"name": COURSE_LATIN, "url": "http://127.0.0.1:9", "registration_code": "guess"}
    first = api.post(TEAMS, json=wrong)
    assert first.status_code == 403 and "wrong registration code" in first.json()["detail"]
    for _ in range(8):
        assert api.post(TEAMS, json=wrong).status_code == 403
    assert api.get(ME, headers=bearer("not-a-key")).status_code == 401  # the tenth failure
    limited = api.post(TEAMS, json=wrong)
    assert limited.status_code == 429, limited.text
    assert "too many failed" in limited.json()["detail"]
    # The address stays limited for the minute, with the right code as well as a key.
    assert register(api, COURSE_LATIN).status_code == 429
    assert api.get(ME, headers=bearer("another-guess")).status_code == 429
    assert "clfwatch_api_auth_failures_total" in api.get("/metrics").text


def test_each_app_counts_its_own_failures(start_api: Api) -> None:
    """A second app in this process starts with no failures: the limiter is per app, not global."""
    first = start_api(registration_code=CODE, self_service_networks=LOOPBACK_NETWORKS)
    for _ in range(10):
        assert first.get(ME, headers=bearer("not-a-key")).status_code == 401
    assert first.get(ME, headers=bearer("not-a-key")).status_code == 429
    second = start_api(registration_code=CODE, self_service_networks=LOOPBACK_NETWORKS)
    assert second.get(ME, headers=bearer("not-a-key")).status_code == 401
    assert register(second, COURSE_LATIN).status_code == 201


def test_successes_do_not_count_towards_the_limit(api: httpx.Client) -> None:
    team = register(api, COURSE_LATIN).json()
    for _ in range(15):
        assert api.get(ME, headers=bearer(team["key"])).status_code == 200


def test_registration_off_without_a_code(start_api: Api) -> None:
    closed = start_api(self_service_networks=LOOPBACK_NETWORKS)
    r = register(closed, COURSE_LATIN)
    assert r.status_code == 403 and "self-registration is off" in r.json()["detail"]
    board = closed.get("/api/v1/board")
    assert board.status_code == 403 and "CLFWATCH_PUBLIC_BOARD" in board.json()["detail"]


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:80",
                                 "http://169.254.169.254/latest", "http://10.0.0.1"])
def test_loopback_and_private_urls_are_refused_with_the_default_networks(start_api: Api, url: str) -> None:
    default = start_api(registration_code=CODE)
    r = register(default, COURSE_LATIN, url=url)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("url: ") and "\n" not in detail
    assert any(word in detail for word in ("loopback", "private", "metadata"))


def test_a_patch_to_a_refused_address_changes_nothing(api: httpx.Client) -> None:
    team = register(api, COURSE_LATIN).json()
    for url in ("http://10.1.2.3:8080", "http://169.254.169.254", "http://no-such-host.invalid"):
        r = api.patch(ME, headers=bearer(team["key"]), json={"url": url})
        assert r.status_code == 422 and r.json()["detail"].startswith("url: "), r.text
    me = api.get(ME, headers=bearer(team["key"])).json()
    assert me["target"]["url"] == "http://127.0.0.1:9"
    assert [c["fields"] for c in me["changes"]] == [["key"]]  # only the key issued at registration


def test_a_key_reaches_its_own_team_only(api: httpx.Client) -> None:
    a = register(api, "team-a").json()
    b = register(api, "team-b").json()
    assert api.get(ME, headers=bearer(b["key"])).json()["target"]["id"] == b["id"]
    r = api.patch(ME, headers=bearer(b["key"]), json={"id": a["id"], "url": "http://127.0.0.5"})
    assert r.status_code == 422 and r.json()["detail"].startswith("unknown field 'id'")
    assert api.patch(ME, headers=bearer(b["key"]), json={"url": "http://127.0.0.5"}).status_code == 200
    a_me = api.get(ME, headers=bearer(a["key"])).json()
    assert a_me["target"]["url"] == "http://127.0.0.1:9"
    assert [c["fields"] for c in a_me["changes"]] == [["key"]]
    for method, path in (("GET", f"{TEAMS}/{a['id']}"), ("PATCH", f"{TEAMS}/{a['id']}"),
                         ("POST", f"{TEAMS}/{a['id']}/key")):
        r = api.request(method, path, headers=bearer(b["key"]), json={"url": "http://127.0.0.6"})
        assert r.status_code in (404, 405) and set(r.json()) == {"detail"}
    rotated = api.post(f"{ME}/key", headers=bearer(b["key"]))
    assert rotated.status_code == 201
    assert api.get(ME, headers=bearer(a["key"])).status_code == 200  # a's key untouched


def test_bad_bodies(api: httpx.Client) -> None:
    big = api.post(TEAMS, content=b'{"name": "' + b"x" * (70 * 1024) + b'"}',
                   headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.json() == {"detail": "body over 65536 bytes"}

    def chunks() -> Iterator[bytes]:
        for _ in range(70):
            yield b"x" * 1024

    streamed = api.post(TEAMS, content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    unknown = api.post(TEAMS, json={"name": "t", "url": "http://127.0.0.1", "registration_code": CODE,
                                    "colour": "red"})
    assert unknown.status_code == 422 and "unknown field 'colour'" in unknown.json()["detail"]
    missing = api.post(TEAMS, json={"name": "t", "registration_code": CODE})
    assert missing.status_code == 422 and missing.json()["detail"] == "url: required"
    wrong_type = api.post(TEAMS, json={"name": 7, "url": "http://127.0.0.1", "registration_code": CODE})
    assert wrong_type.status_code == 422 and wrong_type.json()["detail"].startswith("name: ")
    broken = api.post(TEAMS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and set(broken.json()) == {"detail"}
    bad_name = register(api, "bad\u200bname")
    assert bad_name.status_code == 422 and "\n" not in bad_name.json()["detail"]
    assert "bad\u200bname" not in bad_name.text


def test_board_badge_health_and_metrics(api: httpx.Client) -> None:
    team = register(api, COURSE_CYRILLIC).json()
    board = api.get("/api/v1/board")
    assert board.status_code == 200
    assert [t["name"] for t in board.json()["targets"]] == [COURSE_CYRILLIC]
    badge = api.get(f"{TEAMS}/{team['id']}/badge.svg")
    assert badge.status_code == 200 and badge.headers["content-type"].startswith("image/svg+xml")
    assert badge.text.startswith("<svg") and "rank 1/1" in badge.text
    missing = api.get(f"{TEAMS}/999999/badge.svg")
    assert missing.status_code == 404 and set(missing.json()) == {"detail"}
    assert api.get("/health").json() == {"status": "ok"}
    metrics = api.get("/metrics").text
    badge_route = "/api/v1/teams/{target_id}/badge.svg"
    assert f'clfwatch_api_requests_total{{method="GET",route="{badge_route}",status="200"}}' in metrics
    assert "clfwatch_api_registrations_total 1.0" in metrics


def test_a_team_manages_its_own_notification_channels(api: httpx.Client) -> None:
    ours = register(api, "PROD_ML_FALL_25|OWN_CHANNELS").json()
    theirs = register(api, "PROD_ML_FALL_25|OTHER_TEAM").json()
    channels = f"{ME}/notifications"
    secret_url = "json://127.0.0.1:9/hook?token=s3cret-hook-token"

    r = api.post(channels, json={"url": secret_url}, headers=bearer(ours["key"]))
    assert r.status_code == 201, r.text
    added = r.json()
    assert set(added) == {"id", "url", "created_at"}
    assert "s3cret" not in added["url"] and added["url"].startswith("json://127.0.0.1")

    listed = api.get(channels, headers=bearer(ours["key"])).json()
    assert [c["id"] for c in listed] == [added["id"]] and "s3cret" not in str(listed)
    assert api.get(channels, headers=bearer(theirs["key"])).json() == []  # not visible to another team

    # Another team cannot remove it, and learns nothing from trying.
    r = api.delete(f"{channels}/{added['id']}", headers=bearer(theirs["key"]))
    assert r.status_code == 404 and "s3cret" not in r.text
    r = api.post(channels, json={"url": "nosuchscheme://x"}, headers=bearer(ours["key"]))
    assert r.status_code == 422 and "Apprise" in r.json()["detail"]
    assert api.post(channels, json={"url": secret_url}).status_code == 401  # no key: nothing
    assert api.delete(f"{channels}/{added['id']}", headers=bearer(ours["key"])).status_code == 204
    assert api.get(channels, headers=bearer(ours["key"])).json() == []


def test_a_team_webhook_may_not_lead_outside_the_networks(start_api: Api) -> None:
    """A json:// hook outside the networks is refused, as a target URL there would be."""
    # TEST-NET-3 stands for the course's network: checked without DNS, never called here.
    api = start_api(registration_code=CODE, self_service_networks="203.0.113.0/24")
    r = register(api, "PROD_ML_FALL_25|PUBLIC_ONLY", url="http://203.0.113.7:8000")
    assert r.status_code == 201, r.text
    r = api.post(f"{ME}/notifications", json={"url": "json://127.0.0.1:5432/hook"},
                 headers=bearer(r.json()["key"]))
    assert r.status_code == 422 and "127.0.0.1" in r.json()["detail"], r.text


def test_an_unexpected_error_is_a_bare_500_and_its_traceback_reaches_the_log(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process log capture sees the app's own lines: a traceback there would fail a test."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("status-broke-4d1")

    monkeypatch.setattr(service, "team_status", broken)
    settings = api_settings(database_url=sqlite_url, registration_code=CODE,
                            self_service_networks=LOOPBACK_NETWORKS)
    with running_api(settings) as (url, log), httpx.Client(base_url=url, timeout=30) as client:
        key = register(client, COURSE_LATIN).json()["key"]
        r = client.get(ME, headers=bearer(key))
    assert r.status_code == 500 and r.json()["detail"] == "internal error" and set(r.json()) == {
        "detail", "request_id"}
    assert "status-broke-4d1" not in r.text
    assert f"event=unhandled_error request_id={r.json()['request_id']}" in log.text
    assert "Traceback (most recent call last)" in log.text and "RuntimeError: status-broke-4d1" in log.text
    assert "event=team_registered" in log.text
    with pytest.raises(AssertionError):
        check_log(log.text, hidden=[CODE])


def test_the_clfwatch_api_command(pg_url: str, tmp_path: Path) -> None:
    """The command itself: --port, settings from CLFWATCH_* variables, /health, one registration."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env.update(CLFWATCH_DATABASE_URL=pg_url, CLFWATCH_REGISTRATION_CODE=CODE,
               CLFWATCH_SELF_SERVICE_NETWORKS=LOOPBACK_NETWORKS, CLFWATCH_PUBLIC_BOARD="true")
    log_path = tmp_path / "api.log"
    base = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "clfwatch.cli", "api", "--port", str(port)],
                 ready_url=f"{base}/health", env=env, cwd=REPO_ROOT, log_path=log_path), \
            httpx.Client(base_url=base, timeout=30) as client:
        health = client.get("/health")
        assert health.json() == {"status": "ok"} and "server" not in health.headers
        r = register(client, COURSE_CYRILLIC)  # a loopback URL: CLFWATCH_SELF_SERVICE_NETWORKS was read
        assert r.status_code == 201, r.text
        me = client.get(ME, headers=bearer(r.json()["key"]))
        assert me.status_code == 200 and me.json()["target"]["name"] == COURSE_CYRILLIC, me.text
        assert [t["name"] for t in client.get("/api/v1/board").json()["targets"]] == [COURSE_CYRILLIC]
        wrong = {"name": "t", "url": "http://127.0.0.1:9", "registration_code": "guess"}
        assert client.post(TEAMS, json=wrong).status_code == 403
    text = log_path.read_text(errors="replace")
    assert f"team API on {base}  ·  self-registration on" in text
    assert "event=team_registered" in text
    check_log(text, hidden=[CODE])
