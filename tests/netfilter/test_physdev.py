"""-m physdev (xt_physdev): read and printed as iptables-save prints it, matched on the bridge ports the caller
gives (Stack.receive's physdev_in, Route.physdev_out) as br_netfilter would know them."""
from __future__ import annotations

import pytest

from kplab.errors import KplabError
from kplab.netfilter import Packet, Route, Stack, parse_ruleset


def _filter(rule: str) -> str:
    return f"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD {rule}\nCOMMIT\n"


def _saved_rule(rule: str) -> str:
    text = parse_ruleset(_filter(rule)).save()
    return next(line for line in text.splitlines() if line.startswith("-A FORWARD"))


@pytest.mark.parametrize("written, printed", [
    ("-m physdev --physdev-is-in -j DROP", "-m physdev --physdev-is-in -j DROP"),
    ("-m physdev ! --physdev-is-in -j DROP", "-m physdev ! --physdev-is-in -j DROP"),
    ("-m physdev --physdev-in veth12 -j DROP", "-m physdev --physdev-in veth12 -j DROP"),
    ("-m physdev ! --physdev-in veth+ -j DROP", "-m physdev ! --physdev-in veth+ -j DROP"),
    ("-m physdev --physdev-is-out -j DROP", "-m physdev --physdev-is-out -j DROP"),
    ("-m physdev ! --physdev-is-out -j DROP", "-m physdev ! --physdev-is-out -j DROP"),
    ("-m physdev --physdev-out eth1 -j DROP", "-m physdev --physdev-out eth1 -j DROP"),
    ("-m physdev ! --physdev-out eth1 -j DROP", "-m physdev ! --physdev-out eth1 -j DROP"),
    ("-m physdev --physdev-is-bridged -j DROP", "-m physdev --physdev-is-bridged -j DROP"),
    ("-m physdev ! --physdev-is-bridged -j DROP", "-m physdev ! --physdev-is-bridged -j DROP"),
    # libxt_physdev's save order: is-in, in, is-out, out, is-bridged — whatever order they were written in
    ("-m physdev --physdev-is-bridged ! --physdev-out veth2 --physdev-in veth1 ! --physdev-is-in -j DROP",
     "-m physdev ! --physdev-is-in --physdev-in veth1 ! --physdev-out veth2 --physdev-is-bridged -j DROP"),
])
def test_round_trip(written, printed):
    assert _saved_rule(written) == f"-A FORWARD {printed}"
    first = parse_ruleset(_filter(written))
    assert parse_ruleset(first.save()) == first


@pytest.mark.parametrize("rule, why", [
    ("-m physdev -j DROP", "physdev needs at least one"),
    ("-m physdev --physdev-in ! veth1 -j DROP", "before --physdev-in"),
    ("-m physdev --physdev-in averyveryverylongname -j DROP", "1-15 characters"),
    ("-m physdev --physdev-is-in --physdev-is-in -j DROP", "given twice"),
])
def test_bad_options_name_the_line(rule, why):
    with pytest.raises(KplabError, match=why) as err:
        parse_ruleset(_filter(rule), source="rules.txt")
    assert "rules.txt:5" in str(err.value)


def _stack(rule: str, physdev_out: str | None = None) -> Stack:
    def route(packet: Packet) -> Route:
        if packet.dst.startswith("10.244.1."):
            return Route(local=False, out_iface="cni0", src="10.244.1.1", physdev_out=physdev_out)
        return Route(local=False, out_iface="eth0", src="192.168.1.11")
    return Stack(parse_ruleset(_filter(rule)), interfaces={"eth0": ["192.168.1.11/24"], "cni0": ["10.244.1.1/24"]},
                 route=route)


TO_LAN = Packet("10.244.1.5", "192.168.1.50", "tcp", 40000, 80)
TO_POD = Packet("10.244.1.5", "10.244.1.9", "tcp", 40000, 80)
FROM_LAN = Packet("192.168.1.50", "10.244.1.9", "tcp", 40000, 80)


@pytest.mark.parametrize("rule, in_iface, port, verdict", [
    # not through a bridge: only negated options match
    ("-m physdev --physdev-is-in", "eth0", None, "ACCEPT"),
    ("-m physdev ! --physdev-is-in", "eth0", None, "DROP"),
    ("-m physdev --physdev-in eth0", "eth0", None, "ACCEPT"),
    ("-m physdev ! --physdev-in veth+", "eth0", None, "DROP"),
    ("-m physdev ! --physdev-out veth+", "eth0", None, "DROP"),
    ("-m physdev ! --physdev-is-bridged", "eth0", None, "DROP"),
    # through the bridge port vethaaaa of cni0
    ("-m physdev --physdev-is-in", "cni0", "vethaaaa", "DROP"),
    ("-m physdev ! --physdev-is-in", "cni0", "vethaaaa", "ACCEPT"),
    ("-m physdev --physdev-in vethaaaa", "cni0", "vethaaaa", "DROP"),
    ("-m physdev --physdev-in veth+", "cni0", "vethaaaa", "DROP"),
    ("-m physdev --physdev-in vethbbbb", "cni0", "vethaaaa", "ACCEPT"),
    ("-m physdev ! --physdev-in vethbbbb", "cni0", "vethaaaa", "DROP"),
    # routed out eth0: the out port is unknown, so --physdev-out fails even negated
    ("-m physdev --physdev-is-out", "cni0", "vethaaaa", "ACCEPT"),
    ("-m physdev ! --physdev-is-bridged", "cni0", "vethaaaa", "DROP"),
    ("-m physdev --physdev-out veth+", "cni0", "vethaaaa", "ACCEPT"),
    ("-m physdev ! --physdev-out veth+", "cni0", "vethaaaa", "ACCEPT"),
])
def test_routed_walks(rule, in_iface, port, verdict):
    walk = _stack(f"{rule} -j DROP").receive(TO_LAN if in_iface == "cni0" else FROM_LAN, in_iface,
                                             physdev_in=port)
    assert walk.path == "forward"
    assert walk.verdict == verdict


@pytest.mark.parametrize("rule, verdict", [
    ("-m physdev --physdev-is-bridged", "DROP"),
    ("-m physdev --physdev-is-out", "DROP"),
    ("-m physdev --physdev-out vethbbbb", "DROP"),
    ("-m physdev --physdev-out veth+", "DROP"),
    ("-m physdev ! --physdev-out vethbbbb", "ACCEPT"),
    ("-m physdev --physdev-in vethaaaa --physdev-out vethbbbb --physdev-is-bridged", "DROP"),
    ("-m physdev --physdev-in vethaaaa --physdev-out vethcccc", "ACCEPT"),
])
def test_bridged_walk_knows_the_out_port(rule, verdict):
    """Pod to pod on the same bridge: in and out by cni0, the bridge forwards from vethaaaa to vethbbbb."""
    walk = _stack(f"{rule} -j DROP", physdev_out="vethbbbb").receive(TO_POD, "cni0", physdev_in="vethaaaa")
    assert walk.verdict == verdict


def test_out_port_is_ignored_for_routed_traffic():
    """br_netfilter knows the out port only for traffic bridged between two ports; a packet routed into the
    bridge from eth0 has no bridge info at all."""
    stack = _stack("-m physdev --physdev-is-bridged -j DROP", physdev_out="vethbbbb")
    assert stack.receive(FROM_LAN, "eth0").verdict == "ACCEPT"


def test_kube_proxy_119_external_ip_rule():
    """`! --physdev-is-in`: a packet from a pod on the bridge is not DNATed by this rule, one from eth0 is."""
    text = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
            "-A PREROUTING -d 192.168.49.100/32 -p tcp -m tcp --dport 80 -m physdev ! --physdev-is-in "
            "-m addrtype ! --src-type LOCAL -j DNAT --to-destination 10.244.1.9:8080\nCOMMIT\n")
    stack = Stack(parse_ruleset(text), interfaces={"eth0": ["192.168.1.11/24"], "cni0": ["10.244.1.1/24"]})
    outside = stack.receive(Packet("192.168.1.50", "192.168.49.100", "tcp", 40000, 80), "eth0")
    assert outside.dnat == "10.244.1.9:8080"
    pod = stack.copy().receive(Packet("10.244.1.5", "192.168.49.100", "tcp", 40000, 80), "cni0",
                               physdev_in="vethaaaa")
    assert pod.dnat is None
