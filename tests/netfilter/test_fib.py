"""Fib: a node's `ip -o addr` / `ip route` read and looked up as the kernel does (fib.py)."""
from __future__ import annotations

import pytest

from kplab.errors import KplabError
from kplab.netfilter.fib import node_fib, parse_addrs, parse_routes, route_from_words

O_ADDR = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.31/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.99/24 brd 192.0.2.255 scope global secondary eth0\\       valid_lft forever preferred_lft forever
3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever preferred_lft forever
4: cni0    inet 10.244.0.1/24 brd 10.244.0.255 scope global cni0\\       valid_lft forever preferred_lft forever
"""
ROUTES = """default via 192.0.2.1 dev eth0 proto dhcp src 192.0.2.31 metric 100
10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
10.244.1.0/24 via 192.0.2.32 dev eth0 onlink
blackhole 10.244.9.0/24 proto bird
unreachable 10.99.0.0/16
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.31
"""


def fib(routes=ROUTES):
    return node_fib(parse_addrs(O_ADDR), parse_routes(routes) if routes is not None else None)


@pytest.mark.parametrize("dst, dev, gateway, src", [
    ("172.17.0.3", "docker0", None, "172.17.0.1"),     # connected route of docker0
    ("10.244.0.7", "cni0", None, "10.244.0.1"),
    ("10.244.1.5", "eth0", "192.0.2.32", "192.0.2.31"),  # /24 via the other node beats the default
    ("8.8.8.8", "eth0", "192.0.2.1", "192.0.2.31"),     # default route, its preferred source
])
def test_longest_prefix_and_preferred_source(dst, dev, gateway, src):
    route = fib().lookup(dst)
    assert (route.local, route.out_iface, route.gateway, route.src) == (False, dev, gateway, src)


def test_local_table_first():
    f = fib()
    assert f.lookup("192.0.2.99").local  # a secondary address is still the host's
    assert f.lookup("127.8.9.10").local  # local 127.0.0.0/8 dev lo
    assert f.lookup("172.17.0.1").local


@pytest.mark.parametrize("dst, failure", [("10.244.9.1", "blackhole"), ("10.99.1.1", "unreachable")])
def test_failing_route_types(dst, failure):
    assert fib().lookup(dst).failure == failure


def test_no_default_route_means_no_route():
    assert fib("10.244.0.0/24 dev cni0\n").lookup("8.8.8.8").failure == "no route"


def test_addresses_only_give_connected_routes_and_an_assumed_default():
    f = fib(None)
    assert f.lookup("172.17.0.3").out_iface == "docker0"
    r = f.lookup("203.0.113.9")
    assert r.out_iface == "eth0" and "assumed" in r.note


def test_loopback_source_needs_route_localnet():
    f = fib()
    assert f.lookup("10.244.1.5", src="127.0.0.1").failure == "loopback source"
    f.route_localnet = True
    assert f.lookup("10.244.1.5", src="127.0.0.1").out_iface == "eth0"


def test_masquerade_source_is_the_out_device_address_facing_the_next_hop():
    # inet_select_addr(dev, nexthop): checked in a netns (route `via 10.0.0.2 src 10.0.1.1` masqueraded to 10.0.0.1)
    addrs = parse_addrs("2: a0    inet 10.0.1.1/24 scope global a0\n2: a0    inet 10.0.0.1/24 scope global a0\n")
    f = node_fib(addrs, parse_routes("10.9.0.0/24 via 10.0.0.2 dev a0 src 10.0.1.1\n"))
    route = f.lookup("10.9.0.1")
    assert route.src == "10.0.1.1"
    assert f.select_address(route.out_iface, route.gateway) == "10.0.0.1"
    assert f.select_address("a0", "192.0.2.1") == "10.0.1.1"  # no subnet holds it: the first primary address


def test_plain_ip_addr_form():
    text = """1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default
    link/ether 02:42:c0:a8:31:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0
    inet 192.168.49.2/24 brd 192.168.49.255 scope global eth0
       valid_lft forever preferred_lft forever
"""
    assert [(a.iface, a.cidr) for a in parse_addrs(text)] == [("lo", "127.0.0.1/8"), ("eth0", "192.168.49.2/24")]


@pytest.mark.parametrize("text, words", [
    ("Chain INPUT (policy ACCEPT)\n", "ip -o addr"),
    ("2: eth0    inet 10.0.0.300/24 scope global eth0\n", "not an address"),
])
def test_unreadable_addrs_name_the_line(text, words):
    with pytest.raises(KplabError, match=words):
        parse_addrs(text, "node.addrs")


def test_unreadable_route_names_the_word():
    with pytest.raises(KplabError, match="bogus"):
        route_from_words("10.0.0.0/8 bogus 1".split(), "r:1")
