"""A failed routing decision ends the walk where the kernel ends it: before FORWARD (ip_route_input, then
ip_error's ICMP) for a received packet, before OUTPUT (send fails) for a locally generated one."""
from __future__ import annotations

import pytest

from kplab.netfilter import Packet, Route, Stack, parse_ruleset

IFACES = {"eth0": ["192.168.0.10/24"], "cni0": ["10.244.1.1/24"], "lo": ["127.0.0.1/8"]}
# Every hook after routing has a rule that would show up (LOG) or change the packet (MASQUERADE).
RULES = """*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.9/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.250.0.5:8080
-A OUTPUT -j LOG --log-prefix "nat-out "
-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -j LOG --log-prefix "fwd "
-A OUTPUT -j LOG --log-prefix "out "
COMMIT
"""
SYN = Packet("10.244.1.5", "203.0.113.9", "tcp", 43210, 443, "SYN")


def node(failure: str = "no route", ip_forward: bool = True) -> Stack:
    """Pods on cni0, 192.168.0.0/24 on eth0, the local addresses; nothing else is routable."""
    def route(p: Packet) -> Route:
        if p.dst in ("192.168.0.10", "10.244.1.1", "127.0.0.1"):
            return Route(local=True, src=p.dst)
        if p.dst.startswith("10.244.1."):
            return Route(local=False, out_iface="cni0", src="10.244.1.1")
        if p.dst.startswith("192.168.0."):
            return Route(local=False, out_iface="eth0", src="192.168.0.10")
        return Route.failed(failure)
    return Stack(parse_ruleset(RULES, "t"), [], IFACES, route=route, ip_forward=ip_forward)


def hooks(walk) -> set[str]:
    return {s.hook for s in walk.steps if s.hook}


def test_forwarded_packet_without_route_is_dropped_before_forward():
    walk = node().receive(SYN, "cni0")
    assert walk.verdict == "DROP" and walk.route_failure == "no route"
    assert "FORWARD" not in hooks(walk) and "POSTROUTING" not in hooks(walk)
    assert not walk.masqueraded and walk.packet == SYN
    last = walk.steps[-1]
    assert (last.kind, last.action) == ("route", "DROP")
    assert "network is unreachable (ENETUNREACH)" in last.note and "before FORWARD" in last.note
    assert not any(s.action == "confirm" for s in walk.steps)  # the connection dies unconfirmed


def test_prerouting_still_runs_before_the_routing_decision():
    walk = node().receive(Packet("10.244.1.5", "10.96.0.9", "tcp", 43210, 80, "SYN"), "cni0")
    assert walk.dnat == "10.250.0.5:8080"  # DNAT first, then no route to the new destination
    assert walk.verdict == "DROP" and walk.steps[-1].kind == "route"


@pytest.mark.parametrize("failure,code", [("no route", 0), ("unreachable", 1), ("prohibit", 13)])
def test_the_kernel_answers_with_icmp_destination_unreachable(failure, code):
    stack = node(failure)
    walk = stack.receive(SYN, "cni0")
    error = stack.reject_error(walk)
    assert (error.icmp_type, error.icmp_code) == ("destination-unreachable", code)
    assert (error.src, error.dst, error.embedded) == ("10.244.1.1", "10.244.1.5", SYN)
    sent = stack.send_reject(walk)
    assert sent.verdict == "ACCEPT" and sent.ctstate == "RELATED" and sent.out_iface == "cni0"


def test_blackhole_and_non_forwarding_hosts_drop_silently():
    stack = node("blackhole")
    walk = stack.receive(SYN, "cni0")
    assert walk.verdict == "DROP" and stack.reject_error(walk) is None
    assert "no error" in walk.steps[-1].note
    quiet = node(ip_forward=False)
    walk = quiet.receive(Packet("10.244.1.5", "192.168.0.20", "tcp", 43210, 22, "SYN"), "cni0")
    assert walk.verdict == "DROP" and walk.route_failure == "unreachable" and "FORWARD" not in hooks(walk)
    assert quiet.reject_error(walk) is None


def test_locally_generated_packet_without_route_never_reaches_output():
    stack = node()
    walk = stack.send(Packet("192.168.0.10", "203.0.113.9", "tcp", 43210, 443, "SYN"))
    assert walk.verdict == "DROP" and walk.path == "output" and walk.route_failure == "no route"
    assert hooks(walk) == set() and [s.kind for s in walk.steps] == ["route"]
    assert "send() fails with ENETUNREACH before OUTPUT" in walk.steps[0].note
    assert stack.reject_error(walk) is None  # the sender gets an errno, not a packet


def test_route_failed_names_a_known_failure():
    assert Route.failed("unreachable").errno == "EHOSTUNREACH"
    assert Route.failed("blackhole").icmp_code is None
    assert Route(local=False, out_iface="eth0").failure is None
    with pytest.raises(ValueError):
        Route.failed("nowhere")
