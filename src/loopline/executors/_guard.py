"""The guard against server-side request forgery: which addresses a request may reach.

A URL's host is turned into addresses once: an IP literal in any spelling the C library accepts
(`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`, `[::ffff:127.0.0.1]`) is read as the address it
means, a name is resolved (every address it has, not just the first). Each address is checked,
with the IPv4 address embedded in an IPv6 one (mapped, compatible, 6to4, NAT64, Teredo) checked
too; one refused address refuses the host. The request is then sent to a checked address (see
`_http`), so a name that resolves differently a moment later changes nothing. This module never
connects anywhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import HttpFetchError, PolicyViolationError
from ._policy import HttpPolicy, Network

__all__ = ["Address", "CheckedHost", "address_problem", "check_host", "literal_address"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, ...
    "169.254.170.2",  # AWS ECS task metadata
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS over IPv6
))
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                             "instance-data.ec2.internal", "metadata.azure.internal"})
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


@dataclass(frozen=True, slots=True)
class CheckedHost:
    """A host whose every address passed the policy: the request goes to one of `addresses`."""

    host: str
    port: int
    addresses: tuple[Address, ...]
    literal: bool
    """The host was an IP address itself (no name to send for TLS)."""


def literal_address(host: str, url: str) -> Address | None:
    """The address `host` spells, in any form `inet_aton` reads, or None when it is a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise PolicyViolationError(f"refused {url}: the host {host!r} is neither a name nor an IP address",
                                   rule="invalid_host", url=url) from None


def check_host(policy: HttpPolicy, host: str, port: int, url: str) -> CheckedHost:
    """Resolve `host` and check every address; refused with `PolicyViolationError`, unresolvable
    with `HttpFetchError`."""
    if host in _METADATA_NAMES or host.endswith(".metadata.google.internal"):
        raise PolicyViolationError(f"refused {url}: {host} is a cloud metadata service", rule="metadata_address",
                                   url=url)
    literal = literal_address(host, url)
    addresses = (literal,) if literal is not None else _resolve(policy, host, port, url)
    networks = policy.networks()
    for address in addresses:
        problem = address_problem(address, networks=networks, allow_private=policy.allow_private_addresses)
        if problem is not None:
            rule, what = problem
            shown = host if literal is not None else f"{host} (which resolves to {address})"
            raise PolicyViolationError(
                f"refused {url}: {shown} is {what}; requests to non-public addresses are refused unless the "
                "policy allows them (allow_private_addresses, allowed_networks)", rule=rule, url=url)
    return CheckedHost(host, port, addresses, literal is not None)


def address_problem(address: Address, *, networks: Sequence[Network] = (),
                    allow_private: bool = False) -> tuple[str, str] | None:
    """Why `address` may not be reached, as (rule, what it is), or None when it may.

    An address inside `networks` may always be reached; a cloud metadata address only then; other
    non-public addresses when `allow_private`.
    """
    if any(address.version == n.version and address in n for n in networks):
        return None
    embedded = _embedded_ipv4(address)
    if any(c in _METADATA_ADDRESSES for c in (address, *embedded)):
        return "metadata_address", "a cloud metadata address"
    if allow_private:
        return None
    for candidate in embedded or (address,):  # an IPv6 form of an IPv4 address is judged by that address
        what = _non_public(candidate)
        if what is not None:
            return "private_address", (what if candidate is address else f"{what} ({candidate} inside {address})")
    return None


def _non_public(address: Address) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    checks = (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
              ("link-local", address.is_link_local), ("multicast", address.is_multicast),
              ("shared address space (CGNAT)", address in _SHARED),
              ("unique-local", address in _UNIQUE_LOCAL),
              ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
              ("reserved", address.is_reserved), ("private", address.is_private),
              ("not publicly routable", not address.is_global))
    return next((f"a {what} address" for what, hit in checks if hit), None)


def _embedded_ipv4(address: Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if int(address) >> 32 == 0 and int(address) > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some)
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in n for n in _NAT64):
        found.append(low32)
    return tuple(found)


def _resolve(policy: HttpPolicy, host: str, port: int, url: str) -> tuple[Address, ...]:
    try:
        texts = policy.resolver(host, port) if policy.resolver is not None else _getaddrinfo(host, port)
    except OSError as exc:
        raise HttpFetchError(f"could not resolve {host} for {url}: {exc}", url=url) from exc
    addresses: list[Address] = []
    for text in texts:
        address = ipaddress.ip_address(str(text).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HttpFetchError(f"could not resolve {host} for {url}: it has no address", url=url)
    return tuple(addresses)


def _getaddrinfo(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
