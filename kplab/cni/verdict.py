"""Policy verdicts with attribution: for each direction, which policy, rule, peer and port decided — or why nothing did.

A connection is allowed when the source's egress side AND the destination's ingress side allow it; each side
is the union of every policy that isolates that pod in that direction. Only the initiating packet is judged:
replies of an allowed connection are always allowed (conntrack does that in the dataplane).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from kplab.cni.policy import EGRESS, INGRESS, Policy
from kplab.cni.selection import PolicySelection
from kplab.errors import KplabError
from kplab.k8s.cluster import Cluster
from kplab.k8s.networkpolicyport import PROTOCOLS
from kplab.k8s.pod import Pod


@dataclass(frozen=True)
class Party:
    """One end of a connection: a pod, a node (host traffic) or an address outside the cluster's pods."""

    text: str
    kind: str  # "pod", "node" or "ip"
    ip: str | None = None
    pod: Pod | None = None
    node: str | None = None


def resolve_endpoint(cluster: Cluster, text: str) -> Party:
    """`ns/pod` (or `ns/<workload>` with one pod), a node name, or an IP (a pod's IP means that pod; a node's
    InternalIP means that node)."""
    text = str(text).strip()
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        addr = None
    if addr is not None:
        ip = str(addr)
        for pod in cluster.pods.values():
            if pod.ip == ip and not pod.host_network:
                return Party(pod.key, "pod", ip, pod, pod.node_name)
        for node in cluster.nodes.values():
            if node.internal_ip == ip:
                return Party(ip, "node", ip, None, node.name)
        return Party(ip, "ip", ip)
    if "/" in text:
        pod = cluster.pods.get(text)
        if pod is None:
            owned = workload_pods(cluster, text)
            if len(owned) == 1:
                pod = owned[0]
            elif owned:
                raise KplabError(f"{text} names a workload with {len(owned)} pods; pick one: "
                                 + ", ".join(p.key for p in owned))
            else:
                raise KplabError(f"pod {text} not found (known pods: {', '.join(sorted(cluster.pods)) or 'none'})")
            text = pod.key
        if pod.host_network:
            # hostNetwork pods use the node's address; NetworkPolicy treats their traffic as node traffic.
            node = cluster.nodes.get(pod.node_name or "")
            return Party(text, "node", node.internal_ip if node else pod.ip, None, pod.node_name)
        return Party(text, "pod", pod.ip, pod, pod.node_name)
    if text in cluster.nodes:
        return Party(text, "node", cluster.nodes[text].internal_ip, None, text)
    raise KplabError(f"{text!r} is not a pod (ns/name), a node name or an IP address")


def workload_pods(cluster: Cluster, text: str) -> list[Pod]:
    """`ns/name` of a Deployment/StatefulSet/DaemonSet/ReplicaSet/Job: the pods it made (their names are generated)."""
    ns, _, name = text.partition("/")
    return sorted((p for p in cluster.pods.values()
                   if p.namespace == ns and p.owner and p.owner.split("/", 1)[-1] == name), key=lambda p: p.key)


def resolve_endpoints(cluster: Cluster, text: str) -> list[Party]:
    """Like resolve_endpoint, but a workload name stands for all of its pods."""
    if "/" in str(text) and str(text) not in cluster.pods:
        owned = workload_pods(cluster, str(text))
        if len(owned) > 1:
            return [resolve_endpoint(cluster, p.key) for p in owned]
    return [resolve_endpoint(cluster, text)]


@dataclass(frozen=True)
class RuleMatch:
    """The rule that allowed a connection: policy, ingress[i]/egress[i], peer from[k]/to[k], port ports[j]."""

    policy: str
    direction: str
    rule: int
    peer: int | None  # None: the rule has no from/to (all peers)
    port: int | None  # None: the rule has no ports (all ports)
    peer_text: str = ""
    port_text: str = ""

    def __str__(self) -> str:
        d = "ingress" if self.direction == INGRESS else "egress"
        word = "from" if self.direction == INGRESS else "to"
        peer = f"{word}[{self.peer}] ({self.peer_text})" if self.peer is not None else f"(no {word}: all peers)"
        port = f"ports[{self.port}] ({self.port_text})" if self.port is not None else "(no ports: all ports)"
        return f"{self.policy} {d}[{self.rule}] {peer} {port}"


def rule_match(policy: Policy, direction: str, ri: int, k: int | None, j: int | None) -> RuleMatch:
    rule = policy.rules(direction)[ri]
    peer_text = rule.peers[k].describe(policy.namespace) if k is not None else ""
    port_text = str(rule.ports[j]) if j is not None else ""
    return RuleMatch(policy.key, direction, ri, k, j, peer_text, port_text)


def decide(policies: list[Policy], direction: str, isolating: tuple[int, ...] | list[int],
           peer_hits: set, port_hits: dict[tuple[int, int], int | None]) -> tuple[bool, tuple[RuleMatch, ...]]:
    """The one decision procedure (shared by `evaluate` and the truth table): a rule of an isolating policy
    allows when one of its peers and one of its ports match. Returns (allowed, every rule that allowed)."""
    if not isolating:
        return True, ()
    found = []
    for pi in isolating:
        policy = policies[pi]
        for ri, _ in enumerate(policy.rules(direction)):
            if (pi, ri) not in port_hits:
                continue
            peers = [k for (p, r, k) in peer_hits if p == pi and r == ri]
            if peers:
                first = None if None in peers else min(peers)
                found.append(rule_match(policy, direction, ri, first, port_hits[(pi, ri)]))
    return bool(found), tuple(found)


def port_hit_map(hits: set) -> dict[tuple[int, int], int | None]:
    out: dict[tuple[int, int], int | None] = {}
    for pi, ri, j in sorted(hits, key=lambda h: (h[0], h[1], -1 if h[2] is None else h[2])):
        out.setdefault((pi, ri), j)
    return out


@dataclass(frozen=True)
class DirectionVerdict:
    direction: str  # Ingress or Egress
    subject: str | None  # the pod whose side this is; None when that end is not a pod
    allowed: bool
    isolating: tuple[str, ...] = ()  # policies that select the subject for this direction
    matches: tuple[RuleMatch, ...] = ()  # the rules that allowed it
    reason: str = ""

    @property
    def isolated(self) -> bool:
        return bool(self.isolating)

    @property
    def deciding(self) -> tuple[str, ...]:
        """Policies that decided this side: the allowing ones, or (when denied) the isolating ones."""
        if not self.isolated:
            return ()
        if self.allowed:
            return tuple(dict.fromkeys(m.policy for m in self.matches))
        return self.isolating


@dataclass(frozen=True)
class PolicyVerdict:
    src: str
    dst: str
    port: int
    protocol: str
    egress: DirectionVerdict
    ingress: DirectionVerdict

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.egress.deciding + self.ingress.deciding))

    @property
    def reason(self) -> str:
        if self.allowed:  # the side a policy decided first: that is the interesting one
            sides = sorted((self.egress, self.ingress), key=lambda d: not d.isolated)
            return "; ".join(d.reason for d in sides)
        denied = [d.reason for d in (self.egress, self.ingress) if not d.allowed]
        return "; ".join(denied)

    def __str__(self) -> str:
        word = "ALLOWED" if self.allowed else "DENIED"
        return f"{self.src} -> {self.dst} {self.port}/{self.protocol}: {word}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.src, "to": self.dst, "port": self.port, "protocol": self.protocol,
                "allowed": self.allowed, "ingress": self.ingress.allowed, "egress": self.egress.allowed,
                "policies": list(self.policies), "reason": self.reason}


def _and(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _side(selection: PolicySelection, direction: str, subject: Party, peer: Party, dst: Party,
          port: int, protocol: str) -> DirectionVerdict:
    word = "ingress" if direction == INGRESS else "egress"
    if subject.kind != "pod":
        what = "a node" if subject.kind == "node" else "not a pod"
        return DirectionVerdict(direction, None, True, reason=f"{subject.text} is {what}: no {word} policy applies")
    key = subject.pod.key
    isolating = selection.isolating[direction].get(key, [])
    names = tuple(selection.policies[i].key for i in isolating)
    if not isolating:
        return DirectionVerdict(direction, key, True,
                                reason=f"{key} is not isolated for {word} (no policy with {direction} selects it)")
    if direction == INGRESS and peer.kind == "node" and peer.node and peer.node == subject.pod.node_name:
        return DirectionVerdict(direction, key, True, names,
                                reason=f"from {key}'s own node {peer.node}: always allowed in")
    peer_hits = selection.peer_hits(direction, peer.pod, peer.ip)
    hits = selection.numeric_port_hits(direction, port, protocol) | selection.named_port_hits(direction, dst.pod, port, protocol)
    allowed, matches = decide(selection.policies, direction, isolating, peer_hits, port_hit_map(hits))
    if allowed:
        return DirectionVerdict(direction, key, True, names, matches, "allowed by " + "; ".join(str(m) for m in matches))
    arrow = f"from {peer.text}" if direction == INGRESS else f"to {peer.text}"
    return DirectionVerdict(direction, key, False, names, (),
                            f"{key} is isolated for {word} by {_and(names)}; no rule allows {port}/{protocol} {arrow}")


def normalise_protocol(protocol: str) -> str:
    p = str(protocol).upper()
    if p not in PROTOCOLS:
        raise KplabError(f"protocol {protocol!r}: NetworkPolicy knows only TCP, UDP and SCTP")
    return p


def evaluate(cluster: Cluster, src: str, dst: str, port: int, protocol: str = "TCP",
             selection: PolicySelection | None = None) -> PolicyVerdict:
    """The verdict for a connection from `src` to `dst` on `port/protocol`, naming what decided it."""
    protocol = normalise_protocol(protocol)
    selection = selection or PolicySelection.build(cluster)
    s, d = resolve_endpoint(cluster, src), resolve_endpoint(cluster, dst)
    if s.kind == "pod" and d.kind == "pod" and s.pod.key == d.pod.key:
        note = f"{s.text} to itself: a pod cannot block access to itself (loopback never meets policy)"
        e = DirectionVerdict(EGRESS, s.text, True, reason=note)
        return PolicyVerdict(s.text, d.text, port, protocol, e, DirectionVerdict(INGRESS, d.text, True, reason=note))
    egress = _side(selection, EGRESS, s, d, d, port, protocol)
    ingress = _side(selection, INGRESS, d, s, d, port, protocol)
    return PolicyVerdict(s.text, d.text, port, protocol, egress, ingress)
