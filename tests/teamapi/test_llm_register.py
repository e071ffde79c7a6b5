"""Teams register openai-chat targets through the team API over HTTP, against a real OpenAI-compatible stub.

One API server (in this process, tests/teamapi/server.py) per backend for the whole module:
every test uses names of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from storage.engine import engine_for, session_scope, upgrade_database
from storage.models import Probe, Target
from tests.conftest import _pg_database
from tests.probes.llm_stub import MODELS, ONE_MODEL, STUB_KEY, llm_stub
from tests.servers import free_port
from tests.teamapi.server import api_settings, serve_api
from tests.teamapi.test_api import CODE, ME, TEAMS, bearer

LOOPBACK_NETWORKS = "127.0.0.0/8"


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with llm_stub() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('llm-api') / 'clfwatch.db'}"
        upgrade_database(url)
        yield url
        engine_for(url).dispose()
        return
    admin = request.getfixturevalue("pg_admin_engine")
    yield from _pg_database(admin, template=request.getfixturevalue("pg_template"))


@pytest.fixture(scope="module")
def api(stub: str, module_db: str) -> Iterator[httpx.Client]:
    """The team API in this process; the stub starts first (its uvicorn configures logging)."""
    settings = api_settings(database_url=module_db, registration_code=CODE,
                            self_service_networks=LOOPBACK_NETWORKS)
    hidden = [CODE, STUB_KEY]  # neither the code nor a service's key is logged
    with serve_api(settings, hidden=hidden) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def register(client: httpx.Client, name: str, url: str, **extra: object) -> httpx.Response:
    return client.post(TEAMS, json={"name": name, "url": url, "registration_code": CODE,
                                    "kind": "openai-chat", **extra})


def stored(db: str, name: str) -> Target | None:
    with session_scope(db) as session:
        target = session.scalar(select(Target).where(Target.name == name))
        if target is not None:
            session.expunge(target)
        return target


def test_a_team_registers_an_llm_and_reads_its_kind_and_model(api: httpx.Client, module_db: str,
                                                              stub: str) -> None:
    r = register(api, "PROD_ML_FALL_25|LLM_ПЕТРОВ", stub, token=STUB_KEY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "name", "key", "kind", "model", "key_enforced", "warnings"}
    assert body["kind"] == "openai-chat" and body["model"] == MODELS[0] and body["key_enforced"] is True
    assert any(f"the server lists 2 models ({', '.join(MODELS)})" in w and '"model"' in w
               for w in body["warnings"]), body["warnings"]
    assert STUB_KEY not in r.text
    target = stored(module_db, "PROD_ML_FALL_25|LLM_ПЕТРОВ")
    assert target is not None and target.self_service and target.token == STUB_KEY
    assert (target.kind, target.model, target.predict_path) == (
        "openai-chat", MODELS[0], "/v1/chat/completions")

    me = api.get(ME, headers=bearer(body["key"]))
    assert me.status_code == 200, me.text
    document = me.json()["target"]
    assert document["kind"] == "openai-chat" and document["model"] == MODELS[0]
    assert document["has_token"] is True and "token" not in document
    assert STUB_KEY not in me.text

    r = register(api, "PROD_ML_FALL_25|LLM_ONE", stub + "/one", token=STUB_KEY, health_path="")
    assert r.status_code == 201, r.text
    assert r.json()["model"] == ONE_MODEL
    assert not [w for w in r.json()["warnings"] if "models" in w]
    r = register(api, "PROD_ML_FALL_25|LLM_GIVEN", stub, token=STUB_KEY, model=MODELS[1])
    assert r.status_code == 201 and r.json()["model"] == MODELS[1]

    classifier = api.post(TEAMS, json={"name": "PROD_ML_FALL_25|CLASSIC", "url": "http://127.0.0.1:9",
                                       "registration_code": CODE})
    assert classifier.status_code == 201 and set(classifier.json()) == {"id", "name", "key"}
    me = api.get(ME, headers=bearer(classifier.json()["key"])).json()["target"]
    assert me["kind"] == "classifier" and me["model"] is None


def test_an_llm_that_does_not_enforce_its_key_is_registered_and_told(api: httpx.Client, module_db: str,
                                                                     stub: str) -> None:
    r = register(api, "PROD_ML_FALL_25|LLM_OPEN", stub + "/open", token=STUB_KEY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["key_enforced"] is False
    (warning,) = [w for w in body["warnings"] if "enforce" in w]
    assert "accepted a request without a key and accepted a wrong key" in warning
    me = api.get(ME, headers=bearer(body["key"])).json()
    with session_scope(module_db) as session:
        rows = session.scalars(select(Probe).where(Probe.target_id == body["id"])).all()
        assert sorted((p.kind, p.outcome) for p in rows) == [("auth", "auth_not_enforced")] * 2
    assert STUB_KEY not in r.text + str(me)


# (what is sent besides name and kind, the start of the one-line detail, words it holds)
REFUSALS = [
    ({"token": "wrong-key-3"}, "cannot read the model list", "the server refused the key (HTTP 401)"),
    ({}, "an openai-chat target needs the bearer key", 'give it with the "token" field'),
    ({"token": "   "}, "an openai-chat target needs the bearer key", 'the "token" field'),
    ({"token": STUB_KEY, "variant": "/html"}, "cannot read the model list", "the answer is not JSON"),
    ({"token": STUB_KEY, "variant": "/empty"}, "cannot read the model list", "lists no model (empty data)"),
    ({"token": STUB_KEY, "variant": None}, "cannot read the model list", "the server is unreachable"),
    ({"token": STUB_KEY, "template": '{"text": "{text}"}'}, "template: belongs to classifiers", "leave"),
    ({"token": STUB_KEY, "probability_pointer": "/p"}, "probability_pointer: belongs to classifiers", ""),
    ({"token": STUB_KEY, "variant": "/v1/"}, "the base URL", "ends in /v1, which clfwatch adds itself"),
    ({"token": STUB_KEY, "kind": "llama"}, "unknown target kind 'llama'", "openai-chat"),
    ({"token": STUB_KEY, "model": "has space"}, "invalid model name", "/v1/models"),
    ({"token": STUB_KEY, "url": "http://10.1.2.3:38300"}, "url: ", "a private address"),
    ({"token": 7}, "token: ", ""),
]


def test_refusals_are_one_line_and_register_nothing(api: httpx.Client, module_db: str, stub: str) -> None:
    for extra in REFUSALS:
        fields, start, words = dict(extra[0]), extra[1], extra[2]
        variant = fields.pop("variant", "")
        url = f"http://127.0.0.1:{free_port()}" if variant is None else stub + str(variant)
        body = {"name": "PROD_ML_FALL_25|REFUSED", "url": url, "registration_code": CODE,
                "kind": "openai-chat", **fields}
        r = api.post(TEAMS, json=body)
        assert r.status_code == 422, (fields, r.text)
        detail = r.json()["detail"]
        assert set(r.json()) == {"detail"} and detail.startswith(start), (fields, detail)
        assert words in detail and "\n" not in detail and STUB_KEY not in detail, (fields, detail)
        if start == "cannot read the model list":
            assert detail.startswith("cannot read the model list from your service's /v1/models: "), detail
            assert detail.endswith('or give the model in the "model" field'), detail
        assert url not in detail  # never echoes what was sent
    assert stored(module_db, "PROD_ML_FALL_25|REFUSED") is None


def test_an_llm_team_renames_moves_and_changes_its_model(api: httpx.Client, module_db: str,
                                                         stub: str) -> None:
    team = register(api, "PROD_ML_FALL_25|LLM_MOVER", stub, token=STUB_KEY).json()
    key = team["key"]
    r = api.patch(ME, headers=bearer(key), json={"name": "PROD_ML_FALL_25|LLM_MOVED", "url": stub + "/one",
                                                 "model": ONE_MODEL})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert (moved["name"], moved["url"], moved["model"], moved["kind"]) == (
        "PROD_ML_FALL_25|LLM_MOVED", stub + "/one", ONE_MODEL, "openai-chat")
    assert moved["id"] == team["id"]
    for change, words in (({"token": None}, "needs the key its service demands"),
                          ({"template": '{"text": "{text}"}'}, "belongs to classifiers"),
                          ({"model": ""}, "invalid model name"),
                          ({"url": "http://10.0.0.7"}, "url: ")):
        r = api.patch(ME, headers=bearer(key), json=change)
        assert r.status_code == 422 and words in r.json()["detail"], (change, r.text)
    r = api.patch(ME, headers=bearer(key), json={"token": "a-new-key-for-the-service"})
    assert r.status_code == 200 and r.json()["has_token"] is True
    assert "a-new-key-for-the-service" not in r.text
    target = stored(module_db, "PROD_ML_FALL_25|LLM_MOVED")
    assert target is not None and target.token == "a-new-key-for-the-service"
    me = api.get(ME, headers=bearer(key)).json()
    assert {tuple(c["fields"]) for c in me["changes"] if c["actor"] == "team"} >= {
        ("name", "base_url", "model"), ("token",)}
