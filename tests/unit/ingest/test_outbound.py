"""Outbound URLs never reach internal addresses unless allowed (docs/security.md, T5).

Generated: hypothesis draws addresses from every internal range (IPv4 and IPv6, mapped
forms too) and from the public space."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.outbound import LOOPBACK, OutboundPolicy, RefusedDestination, parse_networks

INTERNAL = [
    "127.0.0.0/8",  # loopback
    "10.0.0.0/8",  # private (cluster pod and service networks live here)
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",  # link-local: the cloud metadata service
    "100.64.0.0/10",  # shared address space (CGNAT, some clusters)
    "0.0.0.0/8",
    "192.0.0.0/24",
    "198.18.0.0/15",
    "240.0.0.0/4",
    "224.0.0.0/4",  # multicast
    "::1/128",
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "::/128",
]
PRODUCTION = OutboundPolicy()


def addresses_in(network: str) -> st.SearchStrategy[ipaddress._BaseAddress]:
    net = ipaddress.ip_network(network)
    return st.integers(0, net.num_addresses - 1).map(lambda i: net[i])


internal_addresses = st.one_of(*(addresses_in(n) for n in INTERNAL))


def check(policy: OutboundPolicy, url: str) -> None:
    asyncio.run(policy.check(url))


@settings(max_examples=400)
@given(internal_addresses)
def test_every_internal_address_is_refused(address):
    host = f"[{address}]" if address.version == 6 else str(address)
    with pytest.raises(RefusedDestination):
        check(PRODUCTION, f"http://{host}:8080/bot")
    if address.version == 4:  # the IPv4-mapped IPv6 form too
        with pytest.raises(RefusedDestination):
            check(PRODUCTION, f"http://[::ffff:{address}]/bot")


@settings(max_examples=200)
@given(internal_addresses)
def test_an_operator_allow_list_opens_exactly_its_networks(address):
    network = ipaddress.ip_network(f"{address}/{address.max_prefixlen}")
    host = f"[{address}]" if address.version == 6 else str(address)
    check(OutboundPolicy((network,)), f"http://{host}/bot")


@settings(max_examples=200)
@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_public_addresses_pass_and_internal_ones_do_not(address):
    allowed = (
        address.is_global
        and not address.is_multicast
        and address not in ipaddress.ip_network("192.0.0.0/24")
    )
    assert PRODUCTION.address_allowed(address) is allowed


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:5005/webhook",  # a name that resolves to loopback
        "ftp://bots.example/",
        "http:///no-host",
        "http://user:pw@203.0.113.9/",
        "http://203.0.113.9:99999/",
        "http://no-such-host.invalid/",
    ],
)
def test_names_schemes_and_odd_urls_are_refused_with_a_reason(url):
    with pytest.raises(RefusedDestination) as refused:
        check(PRODUCTION, url)
    assert str(refused.value)


def test_development_mode_allows_loopback_only():
    class Dev:
        interact_env = "development"
        outbound_allow_networks = ""

    dev = OutboundPolicy.from_settings(Dev())
    assert dev.allowed == LOOPBACK
    check(dev, "http://127.0.0.1:5005/webhook")
    with pytest.raises(RefusedDestination):
        check(dev, "http://169.254.169.254/latest/meta-data/")


def test_the_allow_list_setting_parses_addresses_and_networks():
    assert parse_networks(" 10.1.2.3, 10.8.0.0/16 ,") == (
        ipaddress.ip_network("10.1.2.3/32"),
        ipaddress.ip_network("10.8.0.0/16"),
    )


def test_where_a_url_is_configured_a_name_that_does_not_resolve_yet_is_accepted():
    asyncio.run(PRODUCTION.check("https://bot-not-deployed-yet.invalid/hook", unresolved_ok=True))
    with pytest.raises(RefusedDestination):  # an internal address is refused all the same
        asyncio.run(PRODUCTION.check("http://10.0.0.5/hook", unresolved_ok=True))
