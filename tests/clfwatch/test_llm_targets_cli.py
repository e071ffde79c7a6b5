"""``clfwatch targets add|list|update`` for openai-chat targets, against a real OpenAI-compatible stub.

Two real ``clfwatch`` processes, for what only a process shows (its exit code, every line it
leaves on stdout and stderr, the key in none of them): a registration that sends the key
through model discovery and the key check, and one refused for a wrong key. What the commands
compute and print (models, warnings, refusals, listings) runs ``cli.main`` in this process
(``tests.clfwatch.inproc``), where the key is looked for in the same captured output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from storage.engine import session_scope
from storage.models import Probe
from storage.targets import list_targets
from tests.clfwatch.inproc import clfwatch_in_process
from tests.clfwatch.test_cli import clfwatch
from tests.llm.servers import LlmServer, demo_llm_server
from tests.probes.llm_stub import MODELS, STUB_KEY, llm_stub
from tests.servers import free_port

NAME = "PROD_ML_FALL_25|ИВАНОВ_LLM"


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with llm_stub() as url:
        yield url


@pytest.fixture(scope="module")
def demo_llm() -> Iterator[LlmServer]:
    with demo_llm_server() as server:
        yield server


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_demo_llm_registers_with_its_one_model_and_its_key_enforced(
    cli_env: dict[str, str], demo_llm: LlmServer
) -> None:
    r = clfwatch_in_process(cli_env, "targets", "add", "demo-llm", demo_llm.base_url, "--kind",
                            "openai-chat", "--token", demo_llm.key)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"registered demo-llm at {demo_llm.base_url} (openai-chat, model {demo_llm.model})",
        "key enforced: requests without the key and with a wrong key were refused",
    ]
    assert "models" not in r.stderr and demo_llm.key not in r.stderr
    (row,) = listed(cli_env)
    assert (row["kind"], row["model"], row["token"]) == ("openai-chat", demo_llm.model, "set")


def listed(env: dict[str, str]) -> list[dict[str, object]]:
    r = clfwatch_in_process(env, "targets", "list", "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_add_discovers_the_model_lists_the_kind_and_updates_it(
    cli_env: dict[str, str], db_url: str, stub: str
) -> None:
    # A real process for the add on SQLite (its lines on stdout and stderr, the key in neither);
    # on Postgres, and for the listings and updates after it, what the command computes, here.
    add = clfwatch if db_url.startswith("sqlite") else clfwatch_in_process
    r = add(cli_env, "targets", "add", NAME, stub, "--kind", "openai-chat", "--token", STUB_KEY)
    assert r.returncode == 0, r.stderr
    assert f"registered {NAME} at {stub} (openai-chat, model {MODELS[0]})" in r.stdout
    # Several models: the first is taken and the others are named, with how to choose.
    assert f"the server lists 2 models ({', '.join(MODELS)}); took the first, {MODELS[0]}" in r.stderr
    assert f"clfwatch targets update '{NAME}' --model M" in r.stderr
    assert "key enforced: requests without the key and with a wrong key were refused" in r.stdout
    assert STUB_KEY not in r.stderr + r.stdout
    r2 = clfwatch_in_process(cli_env, "targets", "add", "plain-team", "http://127.0.0.1:9",
                             "--token", "tok-plain-7")
    assert r2.returncode == 0, r2.stderr

    table = clfwatch_in_process(cli_env, "targets", "list")
    assert table.returncode == 0
    header, *lines = table.stdout.splitlines()
    assert header.split()[:4] == ["id", "name", "kind", "model"]
    assert any(line.split()[2:4] == ["classifier", "-"] for line in lines), table.stdout
    assert any(f"openai-chat  {MODELS[0]}" in line for line in lines), table.stdout
    rows = {row["name"]: row for row in listed(cli_env)}
    chat = rows[NAME]
    assert chat["kind"] == "openai-chat" and chat["model"] == MODELS[0]
    assert chat["predict_path"] == "/v1/chat/completions" and chat["health_path"] == "/health"
    assert chat["token"] == "set"
    assert rows["plain-team"]["kind"] == "classifier" and rows["plain-team"]["model"] is None
    assert rows["plain-team"]["predict_path"] == "/predict"

    r = clfwatch_in_process(cli_env, "targets", "update", NAME, "--model", MODELS[1])
    assert r.returncode == 0, r.stderr
    assert listed(cli_env)[0]["model"] == MODELS[1]
    r = clfwatch_in_process(cli_env, "targets", "update", NAME, "--no-token")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "instead of --no-token" in r.stderr
    r = clfwatch_in_process(cli_env, "targets", "update", "plain-team", "--model", "m")
    assert r.returncode == 1 and "only openai-chat targets take a model" in r.stderr
    with session_scope(db_url) as session:
        assert {v.name: v.has_token for v in list_targets(session)} == {NAME: True, "plain-team": True}
    table = clfwatch_in_process(cli_env, "targets", "list")
    assert table.returncode == 0 and f"openai-chat  {MODELS[1]}" in table.stdout, table.stdout
    as_json = clfwatch_in_process(cli_env, "targets", "list", "--format", "json")
    everything = table.stdout + table.stderr + as_json.stdout + as_json.stderr
    assert STUB_KEY not in everything and STUB_KEY not in r.stderr + r.stdout


def test_a_service_that_does_not_enforce_its_key_is_registered_with_a_warning(
    cli_env: dict[str, str], db_url: str, stub: str
) -> None:
    r = clfwatch_in_process(cli_env, "targets", "add", "open-llm", stub + "/open", "--kind",
                            "openai-chat", "--token", STUB_KEY, "--model", MODELS[1])
    assert r.returncode == 0, r.stderr
    assert "registered open-llm" in r.stdout and "models" not in r.stderr  # the model was given
    (warning,) = [line for line in r.stderr.splitlines() if "enforce" in line]
    assert warning == (
        f"clfwatch: warning: {stub}/open/v1/chat/completions accepted a request without a key and "
        "accepted a wrong key: the service does not enforce its key; make it answer 401 or 403 "
        "unless a request carries its key"
    )
    assert STUB_KEY not in r.stderr + r.stdout
    with session_scope(db_url) as session:
        rows = session.scalars(select(Probe)).all()
        assert sorted((p.kind, p.outcome, p.status_code) for p in rows) == [
            ("auth", "auth_not_enforced", 200), ("auth", "auth_not_enforced", 200)]
        assert all(STUB_KEY not in (p.detail or "") + (p.body_excerpt or "") for p in rows)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_explicit_model_is_not_asked_for(cli_env: dict[str, str]) -> None:
    # Nothing listens there: with --model given, registration does not need the model list.
    url = f"http://127.0.0.1:{free_port()}"
    r = clfwatch_in_process(cli_env, "targets", "add", "t", url, "--kind", "openai-chat", "--token",
                            "k-1", "--model", "my-model", "--health-path", "")
    assert r.returncode == 0, r.stderr
    # The key check gets no answer either: a warning, the registration stands.
    assert "warning: the key check of" in r.stderr and "at its next key check" in r.stderr
    (row,) = listed(cli_env)
    assert row["model"] == "my-model" and row["health_path"] == ""


# (variant of the stub, extra arguments, what the one line says); nothing is registered after any.
REFUSALS = [
    ("", ("--token", "wrong-key-9"), "the server refused the key (HTTP 401); check the key you gave"),
    ("/html", ("--token", STUB_KEY), "the answer is not JSON"),
    ("/empty", ("--token", STUB_KEY), "the server lists no model (empty data)"),
    (None, ("--token", STUB_KEY), "the server is unreachable (connection refused or host unknown)"),
    ("", (), "an openai-chat target needs the bearer key its service demands"),
    ("/v1", ("--token", STUB_KEY, "--model", "m"), "ends in /v1, which clfwatch adds itself"),
    ("", ("--token", STUB_KEY, "--template", '{"text": "{text}"}'), "--template belongs to classifiers"),
    ("", ("--token", STUB_KEY, "--probability-pointer", "/p"),
     "--probability-pointer belongs to classifiers"),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # nothing reaches the database
def test_refusals_are_one_line_and_register_nothing(cli_env: dict[str, str], db_url: str, stub: str) -> None:
    # The first in a real process (a key sent and refused: exit 1, one line, the key not in it);
    # the other reasons are the command's own logic, run in this process.
    for i, (variant, extra, reason) in enumerate(REFUSALS):
        url = f"http://127.0.0.1:{free_port()}" if variant is None else stub + variant
        run = clfwatch if i == 0 else clfwatch_in_process
        r = run(cli_env, "targets", "add", "llm-team", url, "--kind", "openai-chat", *extra)
        assert r.returncode == 1, (variant, extra, r.stdout, r.stderr)
        assert r.stderr.startswith("clfwatch: error: ") and r.stderr.count("\n") == 1, r.stderr
        assert reason in r.stderr, (reason, r.stderr)
        assert "Traceback" not in r.stderr and STUB_KEY not in r.stderr
        if "model list" in r.stderr:
            assert r.stderr.rstrip().endswith("or give the model with --model M"), r.stderr
    r = clfwatch_in_process(cli_env, "targets", "add", "c", stub, "--model", "m")
    assert r.returncode == 1 and "--model is for openai-chat targets" in r.stderr
    with session_scope(db_url) as session:
        assert list_targets(session) == []
        assert session.scalars(select(Probe)).all() == []
