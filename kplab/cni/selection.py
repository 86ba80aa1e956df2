"""Which pods each policy selects and which pods each peer matches, computed once per cluster state.

Evaluating selectors per (source, destination) pair is what makes naive truth tables slow; here each selector is
evaluated once per distinct label set, and everything after that is set membership.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kplab.cni.policy import EGRESS, INGRESS, Policy, compile_policy
from kplab.k8s.cluster import Cluster
from kplab.k8s.labelselector import Selector
from kplab.k8s.networkpolicypeer import Peer
from kplab.k8s.pod import Pod

NAME_LABEL = "kubernetes.io/metadata.name"

PeerKey = tuple[int, int, "int | None"]  # (policy index, rule index, peer index or None for "all peers")


def _int_ranges(peer: Peer) -> tuple[int, int, int, tuple[tuple[int, int], ...]]:
    """An ipBlock as integer ranges (version, first, last, except ranges): fast to test for every pod."""
    b = peer.ip_block
    holes = tuple((int(e.network_address), int(e.broadcast_address)) for e in b.excepts)
    return b.cidr.version, int(b.cidr.network_address), int(b.cidr.broadcast_address), holes


def namespace_labels(cluster: Cluster, name: str) -> dict[str, str]:
    """A namespace's labels, with the immutable kubernetes.io/metadata.name label the control plane always sets."""
    ns = cluster.namespaces.get(name)
    labels = dict(ns.labels) if ns is not None else {}
    labels.setdefault(NAME_LABEL, name)
    return labels


@dataclass
class PolicySelection:
    cluster: Cluster
    policies: list[Policy] = field(default_factory=list)  # sorted by namespace/name: Calico's order for ties
    pods: list[Pod] = field(default_factory=list)  # pods NetworkPolicy can select (not hostNetwork)
    isolating: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # direction -> pod key -> policy idx
    peer_pods: dict[str, dict[PeerKey, set[str]]] = field(default_factory=dict)  # direction -> peer -> pod keys
    ip_peers: dict[str, list[tuple[PeerKey, Peer]]] = field(default_factory=dict)  # direction -> ipBlock peers
    all_peers: dict[str, list[PeerKey]] = field(default_factory=dict)  # rules with no from/to
    named_rules: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # rules with a named port
    _numeric: dict[tuple[str, int, str], set] = field(default_factory=dict, repr=False)
    _named: dict[str, dict] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, cluster: Cluster) -> "PolicySelection":
        sel = cls(cluster)
        sel.policies = [compile_policy(np) for _, np in sorted(cluster.networkpolicies.items())]
        sel.pods = [p for _, p in sorted(cluster.pods.items()) if not p.host_network]
        by_ns: dict[str, list[Pod]] = {}
        for pod in sel.pods:
            by_ns.setdefault(pod.namespace, []).append(pod)
        ns_labels = {ns: namespace_labels(cluster, ns) for ns in set(by_ns) | set(cluster.namespaces)}
        cache: dict[tuple[Selector, tuple], bool] = {}

        def matches(selector: Selector, labels: dict[str, str]) -> bool:
            key = (selector, tuple(sorted(labels.items())))
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = selector.matches(labels)
            return hit

        for d in (INGRESS, EGRESS):
            sel.isolating[d], sel.peer_pods[d], sel.ip_peers[d], sel.all_peers[d], sel.named_rules[d] = {}, {}, [], [], []
        for pi, policy in enumerate(sel.policies):
            subjects = [p for p in by_ns.get(policy.namespace, []) if matches(policy.pod_selector, p.labels)]
            for d in policy.types:
                for pod in subjects:
                    sel.isolating[d].setdefault(pod.key, []).append(pi)
            for d in (INGRESS, EGRESS):
                for ri, rule in enumerate(policy.rules(d)):
                    if rule.ports and any(p.named for p in rule.ports):
                        sel.named_rules[d].append((pi, ri))
                    if rule.peers is None:
                        sel.all_peers[d].append((pi, ri, None))
                        continue
                    for k, peer in enumerate(rule.peers):
                        if peer.ip_block is not None:
                            sel.ip_peers[d].append(((pi, ri, k), peer))
                            continue
                        if peer.namespace_selector is None:
                            namespaces = [policy.namespace]
                        else:
                            namespaces = [ns for ns in sorted(ns_labels) if matches(peer.namespace_selector, ns_labels[ns])]
                        pod_sel = peer.pod_selector or Selector()
                        sel.peer_pods[d][(pi, ri, k)] = {
                            p.key for ns in namespaces for p in by_ns.get(ns, []) if matches(pod_sel, p.labels)}
        return sel

    def peer_hits(self, direction: str, pod: Pod | None, ip: str | None) -> set[PeerKey]:
        """Every (policy, rule, peer) of `direction` rules whose peer is this endpoint."""
        hits = set(self.all_peers[direction])
        if pod is not None:
            key = pod.key
            hits.update(pk for pk, keys in self.peer_pods[direction].items() if key in keys)
        if ip:
            addr = ipaddress.ip_address(ip)
            hits.update(pk for pk, peer in self.ip_peers[direction] if peer.ip_block.contains(addr))
        return hits

    def pod_peer_hits(self, direction: str) -> dict[str, set[PeerKey]]:
        """peer_hits for every pod at once (inverted from the per-peer pod sets)."""
        out: dict[str, set[PeerKey]] = {p.key: set(self.all_peers[direction]) for p in self.pods}
        for pk, keys in self.peer_pods[direction].items():
            for key in keys:
                out[key].add(pk)
        blocks = [(pk, _int_ranges(peer)) for pk, peer in self.ip_peers[direction]]
        if blocks:
            for pod in self.pods:
                if pod.ip:
                    addr = ipaddress.ip_address(pod.ip)
                    n, v = int(addr), addr.version
                    out[pod.key].update(pk for pk, (ver, lo, hi, holes) in blocks
                                        if ver == v and lo <= n <= hi and not any(a <= n <= b for a, b in holes))
        return out

    def numeric_port_hits(self, direction: str, port: int, protocol: str) -> set[tuple[int, int, int | None]]:
        """(policy, rule, port index) for rules whose ports allow `port/protocol` without looking at any pod."""
        cached = self._numeric.get((direction, port, protocol))
        if cached is not None:
            return cached
        hits: set[tuple[int, int, int | None]] = set()
        self._numeric[(direction, port, protocol)] = hits
        for pi, policy in enumerate(self.policies):
            for ri, rule in enumerate(policy.rules(direction)):
                if rule.ports is None:
                    hits.add((pi, ri, None))
                    continue
                for j, pp in enumerate(rule.ports):
                    if not pp.named and pp.matches_number(port, protocol):
                        hits.add((pi, ri, j))
                        break
        return hits

    def named_port_hits(self, direction: str, dst: Pod | None, port: int, protocol: str) -> set[tuple[int, int, int]]:
        """Named ports resolve on the DESTINATION pod: a container port with that name, protocol and number."""
        hits: set[tuple[int, int, int]] = set()
        if dst is None or not self.named_rules[direction]:
            return hits  # an outside address has no named ports
        index = self._named_index(direction)
        for cp in dst.ports:
            if cp.port == port and cp.protocol.upper() == protocol:
                hits.update(index.get((cp.name, protocol), ()))
        return hits

    def _named_index(self, direction: str) -> dict[tuple[str, str], list[tuple[int, int, int]]]:
        """(port name, protocol) -> the rules naming it, with the index of that port entry."""
        cached = self._named.get(direction)
        if cached is None:
            cached = self._named[direction] = {}
            for pi, ri in self.named_rules[direction]:
                seen = set()
                for j, pp in enumerate(self.policies[pi].rules(direction)[ri].ports):
                    if pp.named and (pp.port, pp.protocol) not in seen:
                        seen.add((pp.port, pp.protocol))
                        cached.setdefault((pp.port, pp.protocol), []).append((pi, ri, j))
        return cached
