"""The SSRF guard: which addresses a self-registered target may reach, by table, and resolution."""

from __future__ import annotations

import asyncio
import socket

import pytest

from core.netguard import (
    AddressRefused,
    check_ip,
    check_url,
    parse_networks,
    resolve_allowed,
)
from core.settings import Settings, SettingsError, load_settings

PUBLIC = parse_networks("public")
LOOPBACK = parse_networks("127.0.0.0/8, ::1/128")


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"],
)
def test_public_unicast_is_allowed_by_default(address: str) -> None:
    assert str(check_ip(address, PUBLIC)) == address


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "not a public"),  # shared address space (CGNAT)
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("255.255.255.255", "private"),
        ("192.0.2.10", "private"),  # documentation range
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 wrapping 10.0.0.1
    ],
)
def test_everything_but_public_unicast_is_refused_by_default(address: str, why: str) -> None:
    with pytest.raises(AddressRefused) as caught:
        check_ip(address, PUBLIC)
    message = str(caught.value)
    assert why in message and "\n" not in message
    assert "CLFWATCH_SELF_SERVICE_NETWORKS" in message


@pytest.mark.parametrize("networks", ["public", "169.254.0.0/16", "0.0.0.0/0", "public, ::/0"])
@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"])
def test_the_metadata_address_is_refused_whatever_the_networks(networks: str, address: str) -> None:
    with pytest.raises(AddressRefused, match="metadata"):
        check_ip(address, parse_networks(networks))


def test_listed_networks_allow_their_addresses_only() -> None:
    assert str(check_ip("127.0.0.1", LOOPBACK)) == "127.0.0.1"
    assert str(check_ip("::1", LOOPBACK)) == "::1"
    with pytest.raises(AddressRefused, match="a public address; a self-registered URL may reach only 127"):
        check_ip("8.8.8.8", LOOPBACK)
    with pytest.raises(AddressRefused, match="private"):
        check_ip("10.0.0.1", LOOPBACK)
    both = parse_networks("public,10.0.0.0/8")
    check_ip("10.0.0.1", both)
    check_ip("8.8.8.8", both)


def test_an_empty_setting_allows_nothing() -> None:
    with pytest.raises(AddressRefused, match="no address at all"):
        check_ip("8.8.8.8", parse_networks(""))


@pytest.mark.parametrize("bad", ["127.0.0.0/33", "localhost", "10.0.0.0/8;rm", "publik"])
def test_a_bad_networks_setting_is_one_clear_error(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="neither 'public' nor a network"):
        parse_networks(bad)
    monkeypatch.setenv("CLFWATCH_SELF_SERVICE_NETWORKS", bad)
    with pytest.raises(SettingsError, match="CLFWATCH_SELF_SERVICE_NETWORKS: .*neither 'public'"):
        load_settings()


def test_settings_default_is_public_only() -> None:
    settings = Settings()
    assert settings.allowed_networks == PUBLIC
    assert settings.api_port == 8088 and settings.public_board is False
    assert settings.registration_code is None


def test_a_name_resolving_to_loopback_is_refused_with_the_default_networks() -> None:
    with pytest.raises(AddressRefused, match=r"localhost resolves to (127\.0\.0\.1|::1), a loopback address"):
        check_url("http://localhost:8080", PUBLIC)
    with pytest.raises(AddressRefused, match="localhost resolves to"):
        asyncio.run(resolve_allowed("localhost", 8080, PUBLIC))


def test_the_same_name_passes_when_loopback_is_allowed() -> None:
    assert set(check_url("http://localhost:8080/", LOOPBACK)) <= {"127.0.0.1", "::1"}
    assert asyncio.run(resolve_allowed("localhost", 80, LOOPBACK))
    assert asyncio.run(resolve_allowed("[::1]", 80, LOOPBACK)) == ["::1"]


def test_any_refused_address_refuses_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with one public and one private address is refused: the connection could pick either."""

    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:  # type: ignore[type-arg]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(AddressRefused, match="resolves to 10.0.0.7, a private address"):
        check_url("https://mixed.example/", PUBLIC)


def test_a_name_that_does_not_resolve() -> None:
    with pytest.raises(AddressRefused, match="does not resolve"):
        check_url("http://no-such-host.invalid/", PUBLIC)
    with pytest.raises(socket.gaierror):  # the prober reports it as it reports any unknown host
        asyncio.run(resolve_allowed("no-such-host.invalid", 80, PUBLIC))


@pytest.mark.parametrize("url", ["http:///path", "http://", "http://host:99999/"])
def test_urls_without_a_usable_host_or_port(url: str) -> None:
    with pytest.raises(AddressRefused):
        check_url(url, PUBLIC)


def test_the_probers_resolver_refuses_like_resolve_allowed() -> None:
    from core.netguard import resolver_for

    assert asyncio.run(resolver_for(LOOPBACK)("127.0.0.1", 80)) == ["127.0.0.1"]
    with pytest.raises(AddressRefused, match="loopback"):
        asyncio.run(resolver_for(PUBLIC)("127.0.0.1", 80))
