"""Reading an openai-chat target's model from ``GET /v1/models``: a real uvicorn stub, every refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.netguard import parse_networks
from probes.llm_discovery import (
    FIX_API,
    FIX_CLI,
    DiscoveryError,
    TokenRequired,
    discover_model,
    require_token,
)
from tests.probes.llm_stub import MODELS, ONE_MODEL, STUB_KEY, llm_stub
from tests.servers import free_port

LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with llm_stub() as url:
        yield url


def test_the_first_listed_model_is_taken_and_the_others_named(stub: str) -> None:
    found = discover_model(stub, STUB_KEY)
    assert found.model == MODELS[0] and found.listed == MODELS
    assert found.note() == f"the server lists 2 models ({', '.join(MODELS)}); took the first, {MODELS[0]}"
    one = discover_model(stub + "/one/", STUB_KEY)  # a trailing slash is not doubled
    assert one.model == ONE_MODEL and one.note() is None


# (variant, key, words the one-line reason holds)
REFUSALS = [
    ("", "wrong-key-1", "the server refused the key (HTTP 401); check the key you gave"),
    ("", None, "the server refused the key (HTTP 401)"),
    ("/html", STUB_KEY, "the answer is not JSON; check the base URL points at an OpenAI-compatible server"),
    ("/empty", STUB_KEY, "the server lists no model (empty data)"),
    ("/noid", STUB_KEY, 'a listed model has no "id"'),
    ("/broken", STUB_KEY, "HTTP 500; check the base URL (without /v1)"),
    ("/no/such", STUB_KEY, "HTTP 404; check the base URL (without /v1)"),
]


@pytest.mark.parametrize(("variant", "key", "reason"), REFUSALS)
def test_each_refusal_names_the_cause_and_the_fix(stub: str, variant: str, key: str | None,
                                                  reason: str) -> None:
    with pytest.raises(DiscoveryError) as caught:
        discover_model(stub + variant, key)
    message = str(caught.value)
    assert message.startswith(f"cannot read the model list from {stub}{variant}/v1/models: ")
    assert reason in message and message.endswith(FIX_CLI) and "\n" not in message
    assert STUB_KEY not in message


def test_an_unreachable_server_and_the_api_wording() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DiscoveryError) as caught:
        discover_model(url, STUB_KEY, fix=FIX_API, timeout_s=2)
    assert str(caught.value) == (
        f"cannot read the model list from {url}/v1/models: the server is unreachable (connection "
        f"refused or host unknown); check the URL and that the server is running, or {FIX_API}"
    )


def test_a_slow_server_is_a_timeout(stub: str) -> None:
    with pytest.raises(DiscoveryError) as caught:
        discover_model(stub + "/slow", STUB_KEY, timeout_s=0.5)
    assert str(caught.value).endswith(f"no answer within 0.5 s; check that the server is up, or {FIX_CLI}")


def test_a_team_registration_stays_inside_the_allowed_networks(stub: str) -> None:
    assert discover_model(stub, STUB_KEY, networks=LOOPBACK).model == MODELS[0]  # pinned, same answer
    port = stub.rsplit(":", 1)[1]
    # Loopback outside "public"; the metadata address even when a listed network holds it.
    for url, networks in ((stub, parse_networks("public")),
                          (f"http://169.254.169.254:{port}", parse_networks("169.254.0.0/16"))):
        with pytest.raises(DiscoveryError) as caught:
            discover_model(url, STUB_KEY, networks=networks)
        message = str(caught.value)
        assert "self-registered URL may reach only" in message or "metadata" in message, message
        assert "\n" not in message


def test_an_openai_chat_target_needs_a_key() -> None:
    for token in (None, "", "   "):
        with pytest.raises(TokenRequired) as caught:
            require_token("openai-chat", token)
        assert "give it with --token KEY" in str(caught.value)
    require_token("openai-chat", "k")
    require_token("classifier", None)  # a classifier's token stays optional


def test_the_pinned_connection_itself_refuses_an_address_outside(stub: str) -> None:
    """Past the first check, the connection resolves again and is refused (DNS may have changed)."""
    import httpx

    from core.netguard import AddressRefused
    from probes.llm_discovery import _Transport

    with httpx.Client(transport=_Transport(parse_networks("10.0.0.0/8"))) as client, \
            pytest.raises(AddressRefused):
        client.get(stub + "/v1/models")
    with httpx.Client(transport=_Transport(LOOPBACK)) as client:
        assert client.get(stub + "/one/v1/models", headers={"Authorization": f"Bearer {STUB_KEY}"}
                          ).json()["data"][0]["id"] == ONE_MODEL
    # A name that stops resolving after the first check is a connect error, as an unreachable host.
    with httpx.Client(transport=_Transport(LOOPBACK)) as client, pytest.raises(httpx.ConnectError):
        client.get("http://no-such-host.invalid/v1/models")
