"""`HttpPolicy`: what an HTTP request made for a task may do, and the checks on a URL's name.

A policy is a frozen value built from a task's `TaskConfig` (or the default outside any task: no
domain rules, the SSRF guard on). This module decides on names only (scheme, domain rules, the
shape of the URL); what the name resolves to is checked by `_guard`. It never sends anything.
"""

from __future__ import annotations

import ipaddress
import math
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import idna

from ..errors import ConfigError, PolicyViolationError

if TYPE_CHECKING:
    from ..tasks import TaskConfig

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "HttpPolicy", "Resolver", "normalise_host"]

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024

Resolver = Callable[[str, int], Sequence[str]]
"""Resolves a host name and port to its addresses (as text); `socket.getaddrinfo` by default."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpPolicy:
    """The rules one task's HTTP requests run under. Every field has a safe default."""

    allowed_domains: tuple[str, ...] = ()
    """When not empty, only these domains (each with its subdomains) may be fetched."""
    blocked_domains: tuple[str, ...] = ()
    """Never fetched (with their subdomains), even when also allowed."""
    require_https: bool = False
    """Refuse `http://` URLs, redirects included."""
    max_pages: int | None = None
    """How many fetches the task may make (a fetch counts once, whatever its redirects and retries)."""
    requests_per_second: float | None = None
    """The most requests (each hop and retry counts) the task starts per second, across processes."""
    concurrent_requests: int | None = None
    """The most requests of the task in flight at once, across processes."""
    max_retries: int = 2
    """Retries of a request that failed to connect or was answered 429, 500, 502, 503 or 504."""
    retry_delay_seconds: float = 1.0
    """The first wait before a retry, doubled for each next one; a `Retry-After` answer wins."""
    max_duration_seconds: float = 60.0
    """The deadline of one whole fetch: redirects, retries and their waits included."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """A longer (decoded) response body is refused; the read stops at the limit."""
    max_redirects: int = 5
    """Redirects followed before the fetch is refused."""
    allow_private_addresses: bool = False
    """Allow private, loopback, link-local and other non-public addresses (never cloud metadata ones)."""
    allowed_networks: tuple[str, ...] = ()
    """Networks (CIDR) allowed whatever they are, e.g. `("127.0.0.1/32",)` for a test's local server."""
    resolver: Resolver | None = field(default=None, compare=False)
    """How host names are resolved (a hook for tests); `socket.getaddrinfo` when None."""
    verify: bool | ssl.SSLContext = field(default=True, compare=False)
    """TLS verification: True, or an `ssl.SSLContext` (e.g. one trusting a test's own certificate)."""

    def __post_init__(self) -> None:
        for name in ("allowed_domains", "blocked_domains"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(f"HttpPolicy.{name} takes a list of domain names, got {value!r}")
            object.__setattr__(self, name, tuple(_normalise_rule(d, name) for d in value))
        _positive(self, "max_pages", "requests_per_second", "concurrent_requests", "max_duration_seconds",
                  "max_response_bytes")
        for name in ("max_retries", "max_redirects", "retry_delay_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"HttpPolicy.{name} takes a number of at least 0, got {value!r}")
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))
        self.networks()  # refuse a malformed network now, not at the first request

    @classmethod
    def from_config(cls, config: TaskConfig | None, *, allow_private: bool = False,
                    allowed_networks: Sequence[str] = (), **overrides: Any) -> HttpPolicy:
        """The policy of a task with `config` (the default policy when None). `allow_private` and
        `allowed_networks` are the worker's to give, not the task creator's: a task cannot open
        the private network to itself. `overrides` sets any other field."""
        values: dict[str, Any] = {"allow_private_addresses": allow_private,
                                  "allowed_networks": tuple(allowed_networks)}
        if config is not None:
            values.update(allowed_domains=config.allowed_domains, blocked_domains=config.blocked_domains,
                          require_https=config.require_https, max_pages=_whole(config.max_pages),
                          requests_per_second=config.requests_per_second,
                          concurrent_requests=config.concurrent_requests)
            optional = {"max_retries": config.max_retries, "retry_delay_seconds": config.retry_delay_seconds,
                        "max_duration_seconds": config.max_duration_seconds}
            values.update({name: value for name, value in optional.items() if value is not None})
        values.update(overrides)
        return cls(**values)

    def networks(self) -> tuple[Network, ...]:
        """`allowed_networks` parsed."""
        try:
            return tuple(ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)
        except ValueError as exc:
            raise ConfigError(f"HttpPolicy.allowed_networks takes networks such as '127.0.0.1/32': {exc}") from None

    def check_domain(self, host: str, url: str) -> None:
        """Refuse `host` (normalised) by the domain rules: blocked wins over allowed."""
        blocked = next((d for d in self.blocked_domains if _covers(d, host)), None)
        if blocked is not None:
            raise PolicyViolationError(f"refused {url}: {host} is blocked by the task's policy (blocked_domains "
                                       f"has {blocked!r})", rule="blocked_domain", url=url)
        if self.allowed_domains and not any(_covers(d, host) for d in self.allowed_domains):
            raise PolicyViolationError(f"refused {url}: {host} is not among the task's allowed_domains "
                                       f"{list(self.allowed_domains)}", rule="domain_not_allowed", url=url)

    def check_scheme(self, scheme: str, url: str) -> None:
        """Only http and https are fetched, and only https when the policy requires it."""
        if scheme not in ("http", "https"):
            raise PolicyViolationError(f"refused {url}: only http and https URLs are fetched, not {scheme}:",
                                       rule="scheme_not_allowed", url=url)
        if self.require_https and scheme != "https":
            raise PolicyViolationError(f"refused {url}: the task's policy requires https (require_https)",
                                       rule="https_required", url=url)


def normalise_host(host: str) -> str:
    """A host name as the rules compare it: IDNA (punycode), lower case, without a trailing dot."""
    host = host.strip().rstrip(".")
    if not host.isascii():
        host = idna.encode(host, uts46=True).decode("ascii")
    return host.lower()


def _normalise_rule(domain: object, name: str) -> str:
    if not isinstance(domain, str) or not domain.strip(" .*"):
        raise ConfigError(f"HttpPolicy.{name} takes domain names, got {domain!r}")
    try:
        return normalise_host(domain.strip().lstrip("*").lstrip("."))
    except idna.IDNAError as exc:
        raise ConfigError(f"HttpPolicy.{name}: {domain!r} is not a domain name ({exc})") from None


def _covers(domain: str, host: str) -> bool:
    """`domain` covers itself and its subdomains (`example.com` covers `a.example.com`, not `badexample.com`)."""
    return host == domain or host.endswith("." + domain)


def _positive(policy: HttpPolicy, *names: str) -> None:
    for name in names:
        value = getattr(policy, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise ConfigError(f"HttpPolicy.{name} takes a positive number, got {value!r}")


def _whole(value: float | None) -> int | None:
    """`TaskConfig.max_pages` may be a float; a page is counted whole."""
    return None if value is None else max(1, int(value))
