"""Walk a connection's first packet through the Calico rules of the nodes it crosses, with the netfilter engine.

Plumbing as Calico sets it up (simplified): each pod's host-side veth is its `cali…` interface, the node routes
each local pod IP out of that interface, and everything else leaves by eth0. A pod-to-pod packet crosses the
source node's FORWARD (from-workload: egress policy) and then, on the destination node, FORWARD again
(to-workload: ingress policy); on one node both happen in a single FORWARD pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kplab.cni.calico import CalicoRules
from kplab.cni.caliconame import interface_name
from kplab.cni.verdict import normalise_protocol, resolve_endpoint
from kplab.errors import KplabError
from kplab.k8s.cluster import Cluster

SOURCE_PORT = 40000
# Which of kplab's pod-network styles enforce NetworkPolicy: Calico programs policy rules; the bridge plugin
# (minikube's and kind's default, flannel) implements none, so a NetworkPolicy there changes nothing.
ENFORCING_CNIS = frozenset({"calico"})


def enforces_policy(cni: str) -> bool:
    """True when the pod network style `cni` ("bridge" or "calico") enforces NetworkPolicy."""
    return cni in ENFORCING_CNIS


def enforcement_note(cluster: Cluster, cni: str | None = None) -> str | None:
    """One sentence when the cluster has NetworkPolicies its CNI does not enforce (None otherwise)."""
    cni = cni or cluster.settings.cni
    if not cluster.networkpolicies or enforces_policy(cni):
        return None
    names = sorted(cluster.networkpolicies)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    one = len(names) == 1
    return (f"NetworkPolicy {shown} {'exists' if one else 'exist'}, but this cluster's CNI ({cni}) does not "
            f"enforce NetworkPolicy: {'it has' if one else 'they have'} no effect on packets "
            f"(kplab reach shows what {'it' if one else 'they'} would decide)")


@dataclass
class Crossing:
    node: str
    walk: object  # kplab.netfilter Walk


@dataclass
class CalicoDataplane:
    """Every node's Calico filter table, parsed once; each `walk` starts from empty conntrack tables."""

    cluster: Cluster
    rules: CalicoRules = None
    _rulesets: dict = field(default_factory=dict)
    _ipsets: object = None

    def __post_init__(self) -> None:
        from kplab.netfilter import parse_ipsets, parse_ruleset

        self.rules = self.rules or CalicoRules.build(self.cluster)
        for node in sorted(self.cluster.nodes):
            text = self.rules.ruleset_text(node)
            self._rulesets[node] = parse_ruleset(text, source=f"{node} calico rules")
        self._ipsets = parse_ipsets(self.rules.ipsets_text(), "calico ipsets")

    def node_ip(self, node: str) -> str:
        ip = self.cluster.nodes[node].internal_ip
        if not ip:
            raise KplabError(f"node {node} has no InternalIP address")
        return ip

    def stack(self, node: str):
        from kplab.netfilter import Route, Stack

        pods = {p.ip: interface_name(p) for p in self.rules.endpoints(node)}
        node_ip = self.node_ip(node)
        interfaces = {"eth0": [f"{node_ip}/32"], **{iface: [] for iface in pods.values()}}

        def route(packet):
            if packet.dst == node_ip:
                return Route(local=True, out_iface="lo")
            if packet.dst in pods:
                return Route(local=False, out_iface=pods[packet.dst])
            return Route(local=False, out_iface="eth0", src=node_ip)
        return Stack(self._rulesets[node], local_ips=[node_ip], interfaces=interfaces, route=route, ipsets=self._ipsets)

    def walk(self, src: str, dst: str, port: int, protocol: str = "TCP") -> list[Crossing]:
        """The first packet's walks, node by node, stopping at the first node that does not pass it on."""
        from kplab.netfilter import Packet

        s, d = resolve_endpoint(self.cluster, src), resolve_endpoint(self.cluster, dst)
        if not s.ip or not d.ip:
            raise KplabError(f"{s.text if not s.ip else d.text} has no IP address")
        packet = Packet(s.ip, d.ip, normalise_protocol(protocol).lower(), sport=SOURCE_PORT, dport=port)
        crossings: list[Crossing] = []
        if s.kind == "pod":
            first = Crossing(s.node, self.stack(s.node).receive(packet, interface_name(s.pod)))
        elif s.kind == "node" and d.kind == "pod" and s.node == d.node:
            first = Crossing(s.node, self.stack(s.node).send(packet))
        elif d.kind == "pod":
            first = Crossing(d.node, self.stack(d.node).receive(packet, "eth0"))
        else:
            return crossings  # neither end is a pod: no Calico workload rules involved
        crossings.append(first)
        if first.walk.verdict == "ACCEPT" and d.kind == "pod" and first.node != d.node:
            crossings.append(Crossing(d.node, self.stack(d.node).receive(first.walk.packet, "eth0")))
        return crossings

    def allowed(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        return all(c.walk.verdict == "ACCEPT" for c in self.walk(src, dst, port, protocol))
