"""The guard against server-side request forgery, against real servers on loopback addresses: every
non-public address refused in each spelling, redirects checked hop by hop, the connection made to
the address that was checked (no DNS rebinding), TLS verified against the name asked for."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from executors_helpers import Local, ipv6_loopback, self_signed, serve

from loopline.errors import HttpFetchError, PolicyViolationError
from loopline.executors import HttpPolicy, address_problem, fetch, fetch_sync

LOOPBACK_ONLY = ("127.0.0.1/32",)


@pytest.fixture
def server() -> Iterator[Local]:
    with serve() as local:
        yield local


def refused(policy: HttpPolicy, url: str) -> PolicyViolationError:
    with pytest.raises(PolicyViolationError) as caught:
        fetch_sync(policy, "GET", url)
    return caught.value


def resolver(table: dict[str, Sequence[str]], calls: list[str] | None = None) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]
    return resolve


# --- addresses ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "rule", "what"), [
    ("127.0.0.1", "private_address", "loopback"),
    ("10.1.2.3", "private_address", "private"),
    ("172.16.0.1", "private_address", "private"),
    ("192.168.1.1", "private_address", "private"),
    ("169.254.1.1", "private_address", "link-local"),
    ("100.64.0.1", "private_address", "CGNAT"),
    ("0.0.0.0", "private_address", "unspecified"),
    ("224.0.0.1", "private_address", "multicast"),
    ("239.1.2.3", "private_address", "multicast"),
    ("240.0.0.1", "private_address", "reserved"),
    ("192.0.2.1", "private_address", "private"),
    ("::1", "private_address", "loopback"),
    ("::", "private_address", "unspecified"),
    ("fe80::1", "private_address", "link-local"),
    ("fc00::1", "private_address", "unique-local"),
    ("fd12:3456::1", "private_address", "unique-local"),
    ("ff02::1", "private_address", "multicast"),
    ("fec0::1", "private_address", "site-local"),
    ("::ffff:127.0.0.1", "private_address", "127.0.0.1 inside"),
    ("::ffff:10.0.0.1", "private_address", "10.0.0.1 inside"),
    ("::127.0.0.1", "private_address", "127.0.0.1 inside"),
    ("2002:7f00:1::", "private_address", "127.0.0.1 inside"),
    ("2002:c0a8:101::1", "private_address", "192.168.1.1 inside"),
    ("64:ff9b::7f00:1", "private_address", "127.0.0.1 inside"),
    ("64:ff9b:1::a00:1", "private_address", "10.0.0.1 inside"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private_address", "inside"),  # Teredo
    ("169.254.169.254", "metadata_address", "metadata"),
    ("fd00:ec2::254", "metadata_address", "metadata"),
    ("::ffff:169.254.169.254", "metadata_address", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata_address", "metadata"),
    ("100.100.100.200", "metadata_address", "metadata"),
])
def test_non_public_addresses_are_refused(address: str, rule: str, what: str) -> None:
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and problem[0] == rule and what in problem[1], problem


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "2a00:1450:4001::200e",
                                     "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_allowing_private_addresses_never_allows_metadata_unless_the_network_is_named() -> None:
    assert address_problem(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
    assert address_problem(ipaddress.ip_address("169.254.169.254"), allow_private=True) == (
        "metadata_address", "a cloud metadata address")
    named = [ipaddress.ip_network("169.254.169.254/32")]
    assert address_problem(ipaddress.ip_address("169.254.169.254"), networks=named) is None


# --- literal hosts against a real server ---------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "0x7f000001", "127.1",
                                  "0177.1", "127.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]",
                                  "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "localhost", "LOCALHOST.",
                                  "[::1]", "0.0.0.0", "[::]", "0"])
def test_loopback_in_every_spelling_is_refused_and_nothing_reaches_the_server(server: Local, host: str) -> None:
    error = refused(HttpPolicy(), server.url("/ok", name=host))
    assert error.rule == "private_address", error
    assert "non-public" in str(error)
    assert server.recorder.hits == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.1", "127.1", "0x7f000001"])
def test_encoded_ipv4_literals_mean_the_address_they_spell(server: Local, host: str) -> None:
    """The refusal above is about the address: allowed by network, the same spelling reaches the server."""
    response = fetch_sync(HttpPolicy(allowed_networks=LOOPBACK_ONLY), "GET", server.url("/ok", name=host))
    assert (response.status, response.text) == (200, "hello")
    assert server.recorder.hits[0].host == f"{host}:{server.port}"


def test_a_host_that_is_neither_name_nor_address_is_refused() -> None:
    assert refused(HttpPolicy(), "http://0x1ffffffff/").rule == "invalid_host"
    # Dotted forms the URL parser itself rejects (an octal part among four) never get as far.
    assert refused(HttpPolicy(), "http://0177.0.0.1/").rule == "invalid_url"
    assert refused(HttpPolicy(), "http://127.0.0.256/").rule == "invalid_url"


def test_metadata_names_are_refused_before_any_lookup() -> None:
    calls: list[str] = []
    policy = HttpPolicy(resolver=resolver({}, calls), allow_private_addresses=True)
    for url in ("http://metadata.google.internal/computeMetadata/v1/", "http://METADATA.google.internal./",
                "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"):
        assert refused(policy, url).rule == "metadata_address"
    assert calls == []


def test_a_name_with_one_private_address_among_public_ones_is_refused(server: Local) -> None:
    policy = HttpPolicy(resolver=resolver({"mixed.test": ["93.184.216.34", "10.0.0.7"],
                                           "inside.test": ["::ffff:192.168.0.1"]}))
    error = refused(policy, "http://mixed.test/")
    assert error.rule == "private_address" and "10.0.0.7" in str(error)
    assert refused(policy, "http://inside.test/").rule == "private_address"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/_x",
                                 "javascript:alert(1)"])
def test_schemes_other_than_http_and_https_are_refused(url: str) -> None:
    assert refused(HttpPolicy(allowed_networks=LOOPBACK_ONLY), url).rule == "scheme_not_allowed"


@pytest.mark.parametrize("url", ["http://user:pw@127.0.0.1:{port}/ok", "http://127.0.0.1:{port}\\@example.com/",
                                 "http://example.com@127.0.0.1:{port}/ok"])
def test_credentials_in_the_url_are_refused(server: Local, url: str) -> None:
    error = refused(HttpPolicy(allowed_networks=LOOPBACK_ONLY), url.format(port=server.port))
    assert error.rule == "userinfo"
    assert server.recorder.hits == []


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback_server_refused_by_default_and_reached_when_its_network_is_allowed() -> None:
    with serve("::1") as local:
        assert refused(HttpPolicy(), local.url("/ok")).rule == "private_address"
        assert local.recorder.hits == []
        response = fetch_sync(HttpPolicy(allowed_networks=("::1/128",)), "GET", local.url("/ok"))
        assert response.text == "hello" and len(local.recorder.hits) == 1


# --- redirects ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "rule"), [
    ("http://127.0.0.2:{port2}/ok", "private_address"),
    ("http://2130706434:{port2}/ok", "private_address"),
    ("http://169.254.169.254/latest/meta-data/", "metadata_address"),
    ("http://metadata.google.internal/", "metadata_address"),
    ("file:///etc/passwd", "scheme_not_allowed"),
    ("http://user@127.0.0.1:{port}/ok", "userinfo"),
])
def test_a_redirect_from_an_allowed_server_is_checked_at_the_hop(server: Local, target: str, rule: str) -> None:
    with serve("127.0.0.2") as inner:
        to = target.format(port=server.port, port2=inner.port)
        url = server.url(f"/redirect?to={to}")
        error = refused(HttpPolicy(allowed_networks=LOOPBACK_ONLY), url)
        assert error.rule == rule, error
        assert server.recorder.paths() == [f"/redirect?to={to}"]
        assert inner.recorder.hits == []


async def test_a_redirect_to_an_allowed_address_is_followed_and_reported_hop_by_hop(server: Local) -> None:
    policy = HttpPolicy(allowed_networks=("127.0.0.0/8",))
    with serve("127.0.0.2") as inner:
        url = server.url(f"/redirect?to={inner.url('/ok')}")
        response = await fetch(policy, "GET", url)
    assert (response.status, response.text, response.url, response.hops) == (200, "hello", inner.url("/ok"),
                                                                              (url, inner.url("/ok")))


# --- the connection goes to the checked address ------------------------------------------------------

@pytest.mark.parametrize("driver", ["sync", "async"])
async def test_dns_rebinding_between_check_and_connect_changes_nothing(driver: str) -> None:
    """The name resolves to an allowed address when checked and to another one afterwards: the request
    still reaches the checked address (the other server sees nothing), carrying the name as Host."""
    with serve("127.0.0.1") as checked, serve("127.0.0.2", checked.port) as rebound:
        answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])
        calls: list[str] = []

        def flip(host: str, port: int) -> Sequence[str]:
            calls.append(host)
            return next(answers)

        policy = HttpPolicy(allowed_networks=LOOPBACK_ONLY, resolver=flip)
        url = f"http://rebind.test:{checked.port}/echo"
        response = fetch_sync(policy, "GET", url) if driver == "sync" else await fetch(policy, "GET", url)
        assert response.status == 200
        assert [h.host for h in checked.recorder.hits] == [f"rebind.test:{checked.port}"]
        assert rebound.recorder.hits == [] and calls == ["rebind.test"]

        # A redirect back to the same name is a new hop: resolved and checked again, now refused.
        again = f"http://rebind.test:{checked.port}/redirect?to=/ok"
        error = refused(policy, again)
        assert error.rule == "private_address" and "127.0.0.2" in str(error)
        assert rebound.recorder.hits == []


def test_https_goes_to_the_checked_address_with_the_name_for_sni_and_verification(tmp_path: Path) -> None:
    cryptography = pytest.importorskip("cryptography")
    assert cryptography
    server_tls, client_tls = self_signed("pinned.test", tmp_path)
    with serve(tls=server_tls) as local:
        table = {"pinned.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}
        policy = HttpPolicy(allowed_networks=LOOPBACK_ONLY, resolver=resolver(table), verify=client_tls,
                            max_retries=0)
        response = fetch_sync(policy, "GET", local.url("/ok", scheme="https", name="pinned.test"))
        assert (response.status, response.text) == (200, "hello")
        assert local.recorder.server_names == ["pinned.test"]
        assert local.recorder.hits[0].host == f"pinned.test:{local.port}"

        # The certificate is checked against the name asked for, not the address connected to.
        with pytest.raises(HttpFetchError, match=r"(?i)certificate|hostname"):
            fetch_sync(policy, "GET", local.url("/ok", scheme="https", name="other.test"))
        assert len(local.recorder.hits) == 1


def test_proxies_from_the_environment_are_not_used(server: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would resolve the name again: requests go straight to the checked address."""
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://10.255.255.1:9")
    response = fetch_sync(HttpPolicy(allowed_networks=LOOPBACK_ONLY, max_retries=0), "GET", server.url("/ok"))
    assert response.text == "hello"
