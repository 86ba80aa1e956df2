"""The CNI's masquerade rules, executed: pods going out are SNATed to the node, pod-to-pod is not."""
from __future__ import annotations

import pytest

from kplab.cni.masquerade import masquerade_rules_text
from kplab.errors import KplabError
from kplab.netfilter import Packet, Route, Stack, parse_ruleset

POD_CIDR, NODE_CIDR = "10.244.0.0/16", "10.244.1.0/24"


def node(cni: str) -> Stack:
    def route(p: Packet) -> Route:
        if p.dst.startswith("10.244.1."):
            return Route(local=False, out_iface="cni0", src="10.244.1.1")
        return Route(local=False, out_iface="eth0", gateway="192.168.1.1", src="192.168.1.11")
    text = masquerade_rules_text(cni, POD_CIDR, NODE_CIDR)
    return Stack(parse_ruleset(text, cni), [], {"eth0": ["192.168.1.11/24"], "cni0": ["10.244.1.1/24"]}, route=route)


@pytest.mark.parametrize("cni", ["bridge", "calico"])
def test_pod_to_outside_is_masqueraded_to_the_node(cni):
    walk = node(cni).receive(Packet("10.244.1.5", "8.8.8.8", "tcp", 43210, 443), "cni0")
    assert walk.verdict == "ACCEPT" and walk.packet.src == "192.168.1.11"
    assert any(s.action == "MASQUERADE" for s in walk.steps)


@pytest.mark.parametrize("cni", ["bridge", "calico"])
def test_pod_to_pod_keeps_its_source(cni):
    walk = node(cni).receive(Packet("10.244.1.5", "10.244.2.10", "tcp", 43210, 8080), "cni0")
    assert walk.packet.src == "10.244.1.5"


def test_flannel_leaves_kube_proxy_marked_packets_and_outsiders_to_local_pods_alone():
    stack = node("bridge")
    marked = stack.receive(Packet("10.244.1.5", "8.8.8.8", "tcp", 1, 443, mark=0x4000), "cni0")
    assert marked.packet.src == "10.244.1.5"
    inbound = stack.receive(Packet("203.0.113.7", "10.244.1.5", "tcp", 2, 8080), "eth0")
    assert inbound.packet.src == "203.0.113.7"
    other_node = stack.receive(Packet("203.0.113.7", "10.244.2.10", "tcp", 3, 8080), "eth0")
    assert other_node.packet.src == "192.168.1.11"  # flannel masquerades outsiders going to another node's pods


def test_rules_name_their_chains_and_unknown_cni_is_an_error():
    assert ":FLANNEL-POSTRTG" in masquerade_rules_text("bridge", POD_CIDR, NODE_CIDR)
    assert f"-d {NODE_CIDR}" in masquerade_rules_text("bridge", POD_CIDR, NODE_CIDR)
    assert "natOutgoing" in masquerade_rules_text("calico", POD_CIDR)
    with pytest.raises(KplabError, match="weave"):
        masquerade_rules_text("weave", POD_CIDR)
