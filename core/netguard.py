"""Where a self-registered target may make our prober connect: the guard against SSRF.

A team that registers its own URL chooses the address our prober calls, and the team sees the
answer on its status page. Without a guard that is a way to read our loopback services, the
private network or a cloud metadata endpoint. So a URL registered through the team API or the
Register page must resolve *only* to addresses inside ``CLFWATCH_SELF_SERVICE_NETWORKS``
(default ``public``: public unicast addresses only), checked at registration and again before
every probe of such a target, because DNS can change between the two. The metadata address is
refused whatever the networks say. Operator registrations (the CLI) are not limited.

The prober plugs ``resolve_allowed`` in as the resolver of its connections
(``functools.partial(resolve_allowed, networks=...)``): every connection, a redirect's too,
goes through it, so a redirect out of the networks is refused like any other address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import ClfwatchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PUBLIC = "public"  # the keyword for "public unicast addresses" in the setting
DEFAULT_SELF_SERVICE_NETWORKS = PUBLIC
# Cloud instance metadata: refused always, even when a network listed in the setting holds it.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}
SETTING = "CLFWATCH_SELF_SERVICE_NETWORKS"


class AddressRefused(ClfwatchError, ValueError):
    """A host resolves (or is) an address that a self-registered target may not reach.

    ``str()`` is one line fit to show the team: the host, the address, and what is allowed.
    """

    def __init__(self, message: str, *, host: str = "", address: str | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.address = address


@dataclass(frozen=True)
class AllowedNetworks:
    """The parsed setting: public unicast addresses (when ``public``) plus listed networks."""

    public: bool
    networks: tuple[IPNetwork, ...] = ()

    def describe(self) -> str:
        """The allowed networks in words, for a refusal message."""
        parts = (["public addresses"] if self.public else []) + [str(n) for n in self.networks]
        return ", ".join(parts) if parts else "no address at all"


def parse_networks(text: str) -> AllowedNetworks:
    """``public`` and/or comma-separated CIDR networks; ValueError naming the bad item.

    ``public`` means public unicast only: no loopback, private, link-local, shared (CGNAT),
    multicast, reserved or documentation addresses. An empty value allows nothing.
    """
    public = False
    networks: list[IPNetwork] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.lower() == PUBLIC:
            public = True
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{item[:60]!r} is neither 'public' nor a network such as 127.0.0.0/8 or ::1/128"
            ) from None
    return AllowedNetworks(public=public, networks=tuple(networks))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_public_unicast(ip: IPAddress) -> bool:
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


def _why_not_public(ip: IPAddress) -> str:
    for attribute, words in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "the unspecified address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, attribute):
            return words
    return "not a public address"


def check_ip(address: str, networks: AllowedNetworks, *, host: str = "") -> IPAddress:
    """The parsed address when a self-registered target may reach it; AddressRefused otherwise."""
    shown = host or address
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        raise AddressRefused(f"{shown[:100]} is not an IP address", host=host, address=address) from None
    # An IPv6 address that carries an IPv4 one is judged by the IPv4 one too.
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            candidates.append(inner)
    lead = f"{host} resolves to {address}" if host and host != address else f"address {address}"
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            raise AddressRefused(
                f"{lead}, the cloud metadata address, which is never probed", host=host, address=address
            )
    outside = [
        c for c in candidates
        if not ((networks.public and _is_public_unicast(c)) or any(c in n for n in networks.networks))
    ]
    if outside:
        why = "a public address" if _is_public_unicast(outside[-1]) else _why_not_public(outside[-1])
        raise AddressRefused(
            f"{lead}, {why}; a self-registered URL may reach only {networks.describe()} "
            f"(the operator sets {SETTING})",
            host=host,
            address=address,
        )
    return ip


async def resolve_allowed(host: str, port: int, networks: AllowedNetworks) -> list[str]:
    """Every address of ``host``, in resolver order, if ALL are allowed; AddressRefused if any is not.

    One address outside is enough to refuse: a name that resolves to a public and a private
    address lets the connection pick the private one. ``socket.gaierror`` (the name does not
    resolve) passes through unchanged, so a caller reports it as it reports any unknown host.
    """
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(bare, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    else:
        addresses = [bare]
    return _all_allowed(bare, addresses, networks)


def resolve_allowed_sync(host: str, port: int, networks: AllowedNetworks) -> list[str]:
    """``resolve_allowed`` for callers without an event loop (the dashboard, a thread pool)."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    else:
        addresses = [bare]
    return _all_allowed(bare, addresses, networks)


def _all_allowed(host: str, addresses: list[str], networks: AllowedNetworks) -> list[str]:
    if not addresses:
        raise AddressRefused(f"{host[:100]} resolves to no address", host=host)
    for address in addresses:
        check_ip(address, networks, host=host)
    return addresses


def check_url(url: str, networks: AllowedNetworks) -> list[str]:
    """The addresses the URL's host resolves to, if a self-registered target may use them.

    AddressRefused, one line, when the URL has no host, the host does not resolve, or any of its
    addresses is outside ``networks``. Blocking (the system resolver); call it from a thread in
    async code, or use ``resolve_allowed``.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    except ValueError:
        raise AddressRefused("the URL has a bad port") from None
    host = parts.hostname or ""
    if not host:
        raise AddressRefused("the URL has no host")
    try:
        return resolve_allowed_sync(host, port, networks)
    except socket.gaierror:
        raise AddressRefused(
            f"{host[:100]} does not resolve; register a URL whose host name exists in DNS", host=host
        ) from None
    except UnicodeError:
        raise AddressRefused(f"{host[:100]} is not a valid host name", host=host) from None


def resolver_for(networks: AllowedNetworks) -> Callable[[str, int], Awaitable[list[str]]]:
    """The prober's resolver for self-registered targets: ``resolve_allowed`` bound to ``networks``.

    Plug it into the connection backend (``probes.netio.AsyncioBackend(resolver=...)``) of
    every self-registered target's probe; AddressRefused from it is the refused probe's outcome.
    """

    async def resolve(host: str, port: int) -> list[str]:
        return await resolve_allowed(host, port, networks)

    return resolve
