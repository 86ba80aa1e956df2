"""NetworkPolicy enforcement as Calico's Felix (iptables mode) writes it into each node's filter table.

The layout follows felix/rules (static.go, dispatch.go, endpoints.go, policy.go) as summarised in
../shared/reference/calico.md. A forwarded packet from a pod meets the SOURCE pod's egress policy in
cali-fw-<veth> (via cali-from-wl-dispatch) and the DESTINATION pod's ingress policy in cali-tw-<veth>
(via cali-to-wl-dispatch). Inside an endpoint chain each applicable policy's chain may set the accept mark;
"End of tier default" drops a packet no policy accepted — that drop is what isolation looks like — and an
endpoint with no applicable policy reaches its namespace profile, which accepts: the default allow.

Simplifications, on purpose: rule-hash comments (`cali:…`) are replaced by comments naming the Kubernetes
policy, rule and peer; numeric and named ports of one rule become separate accept rules instead of a match
block; dispatch chains are flat (Felix splits long ones into a tree); no VXLAN/IPIP-from-workload drops, no
host endpoints (their chains exist, empty); set hashes use Calico's algorithm on kplab's selector strings,
which are close to but not byte-identical with libcalico-go's canonical form.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kplab.cni.caliconame import (endpoint_chain, interface_name, named_port_set_name, policy_chain,
                                  profile_chain, selector_set_name)
from kplab.cni.policy import EGRESS, INGRESS, Policy, PolicyRule
from kplab.cni.selection import PolicySelection
from kplab.errors import KplabError
from kplab.k8s.cluster import Cluster
from kplab.k8s.labelselector import Selector
from kplab.k8s.networkpolicypeer import Peer
from kplab.k8s.pod import Pod

__all__ = ["calico_ruleset_text", "calico_ipsets_text", "interface_name", "CalicoRules"]

# Mark bits with Felix's default IptablesMarkMask 0xffff0000, v3.30+ order: accept, pass, drop, scratch0, scratch1.
ACCEPT = 0x10000
PASS = 0x20000
DROP = 0x40000
SCRATCH0 = 0x80000
SCRATCH1 = 0x100000
ALL_BITS = ACCEPT | PASS | DROP | SCRATCH0 | SCRATCH1
MULTIPORT_MAX = 15

ORCHESTRATOR = "projectcalico.org/orchestrator == 'k8s'"


def _mark(value: int, mask: int) -> str:
    return f"{value:#x}/{mask:#x}"


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _terms(selector: Selector, prefix: str = "") -> list[str]:
    """A K8s label selector in Calico's selector language (conversion.go)."""
    out = [f"{prefix}{k} == '{v}'" for k, v in selector.match_labels]
    for r in selector.expressions:
        values = ", ".join(f"'{v}'" for v in sorted(r.values))
        out.append({"In": f"{prefix}{r.key} in {{ {values} }}", "NotIn": f"{prefix}{r.key} not in {{ {values} }}",
                    "Exists": f"has({prefix}{r.key})", "DoesNotExist": f"! has({prefix}{r.key})"}[r.operator])
    return out


def peer_selector(peer: Peer, policy_namespace: str) -> str:
    """The namespace-scoped selector Calico derives for a selector peer (updateprocessors/rules.go)."""
    pod_part = " && ".join(_terms(peer.pod_selector or Selector()) + [ORCHESTRATOR])
    if peer.namespace_selector is None:
        ns_part = f"projectcalico.org/namespace == '{policy_namespace}'"
    elif peer.namespace_selector.empty:
        ns_part = "has(projectcalico.org/namespace)"
    else:
        ns_part = " && ".join(_terms(peer.namespace_selector, "pcns."))
    return f"({ns_part}) && ({pod_part})"


def subject_selector(policy: Policy) -> str:
    terms = _terms(policy.pod_selector)
    scope = f"projectcalico.org/namespace == '{policy.namespace}'"
    return f"({scope}) && ({' && '.join([ORCHESTRATOR] + terms)})"


@dataclass
class IPSetText:
    name: str
    type: str  # hash:net (selector sets) or hash:ip,port (named-port sets)
    selector: str
    members: list[str] = field(default_factory=list)


@dataclass
class CalicoRules:
    """Everything Felix would program for a cluster: per-node filter tables and the IP sets they use."""

    cluster: Cluster
    selection: PolicySelection
    ipsets: dict[str, IPSetText] = field(default_factory=dict)

    @classmethod
    def build(cls, cluster: Cluster, selection: PolicySelection | None = None) -> "CalicoRules":
        return cls(cluster, selection or PolicySelection.build(cluster))

    # -- IP sets -------------------------------------------------------------------------------------------
    def _pod_ips(self, keys) -> list[str]:
        pods = self.cluster.pods
        return sorted({pods[k].ip for k in keys if pods[k].ip}, key=_ip_key)

    def selector_set(self, direction: str, pi: int, ri: int, k: int) -> str:
        policy = self.selection.policies[pi]
        text = peer_selector(policy.rules(direction)[ri].peers[k], policy.namespace)
        name = selector_set_name(text)
        if name not in self.ipsets:
            members = self._pod_ips(self.selection.peer_pods[direction][(pi, ri, k)])
            self.ipsets[name] = IPSetText(name, "hash:net", text, members)
        return name

    def named_port_set(self, direction: str, pi: int, ri: int, k: int | None, port_name: str, protocol: str) -> str:
        """Ingress: the policy's own endpoints' ports; egress: the `to` peer's (every pod for ipBlock/no peer)."""
        policy = self.selection.policies[pi]
        peer = policy.rules(direction)[ri].peers[k] if k is not None else None
        if direction == INGRESS:
            text = subject_selector(policy)
            keys = [key for key, pis in self.selection.isolating[INGRESS].items() if pi in pis]
        elif peer is not None and peer.ip_block is None:
            text = peer_selector(peer, policy.namespace)
            keys = self.selection.peer_pods[EGRESS][(pi, ri, k)]
        else:
            text = "all()"
            keys = [p.key for p in self.selection.pods]
        name = named_port_set_name(text, protocol, port_name)
        if name not in self.ipsets:
            members = set()
            for key in keys:
                pod = self.cluster.pods[key]
                for cp in pod.ports:
                    if pod.ip and cp.name == port_name and cp.protocol.upper() == protocol:
                        members.add((pod.ip, f"{pod.ip},{protocol.lower()}:{cp.port}"))
            self.ipsets[name] = IPSetText(name, "hash:ip,port", f"{text} named port {port_name}/{protocol}",
                                          [m for _, m in sorted(members, key=lambda m: (_ip_key(m[0]), m[1]))])
        return name

    # -- per-node filter table -------------------------------------------------------------------------------
    def endpoints(self, node_name: str) -> list[Pod]:
        if node_name not in self.cluster.nodes:
            raise KplabError(f"node {node_name} not found (known nodes: {', '.join(sorted(self.cluster.nodes)) or 'none'})")
        pods = [p for p in self.selection.pods if p.node_name == node_name and p.ip]
        return sorted(pods, key=interface_name)

    def policy_rules(self, direction: str, pi: int) -> list[str]:
        """cali-pi-/cali-po- body: for each rule × protocol × peer, accept-mark rules then `Return if accepted`."""
        policy = self.selection.policies[pi]
        chain = policy_chain(direction, policy.namespace, policy.name)
        where = "ingress" if direction == INGRESS else "egress"
        word = "from" if direction == INGRESS else "to"
        addr = "-s" if direction == INGRESS else "-d"
        set_dir = "src" if direction == INGRESS else "dst"
        out = []
        for ri, rule in enumerate(policy.rules(direction)):
            for protocol, alternatives in _port_groups(rule):
                peers = list(enumerate(rule.peers)) if rule.peers is not None else [(None, None)]
                for k, peer in peers:
                    label = f"{policy.key} {where}[{ri}]" + (f" {word}[{k}]" if k is not None else "")
                    proto = f" -p {protocol.lower()}" if protocol else ""
                    match = ""
                    block = ""
                    if peer is not None and peer.ip_block is not None:
                        match = f" {addr} {peer.ip_block.cidr}"
                        if peer.ip_block.excepts:
                            # iptables takes one --source per rule, so `except` becomes a match block (policy.go).
                            out.append(f"-A {chain} -m comment --comment {_quote(label + ' block start')} "
                                       f"-j MARK --set-xmark {_mark(SCRATCH0, SCRATCH0 | SCRATCH1)}")
                            for e in peer.ip_block.excepts:
                                out.append(f"-A {chain} {addr} {e} -m comment --comment {_quote(label + ' except')} "
                                           f"-j MARK --set-xmark {_mark(0, SCRATCH0)}")
                            block = f" -m mark --mark {_mark(SCRATCH0, SCRATCH0)}"
                    elif peer is not None:
                        match = f" -m set --match-set {self.selector_set(direction, pi, ri, k)} {set_dir}"
                    for kind, value in alternatives:
                        if kind == "numeric":
                            ports = f" -m multiport --dports {value}"
                        elif kind == "named":
                            ports = f" -m set --match-set {self.named_port_set(direction, pi, ri, k, value, protocol)} dst,dst"
                        else:
                            ports = ""
                        head = f"-A {chain}" + (f" {addr} {peer.ip_block.cidr}" if match.startswith(f" {addr}") else "")
                        rest = match if not match.startswith(f" {addr}") else ""
                        out.append(f"{head}{proto} -m comment --comment {_quote(label)}{block}{rest}{ports} "
                                   f"-j MARK --set-xmark {_mark(ACCEPT, ACCEPT)}")
                        out.append(f"-A {chain} -m mark --mark {_mark(ACCEPT, ACCEPT)} -j RETURN")
        return out

    def endpoint_rules(self, direction: str, pod: Pod) -> list[str]:
        chain = endpoint_chain(direction, interface_name(pod))
        out = [f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
               f"-A {chain} -m conntrack --ctstate INVALID -j DROP",
               f"-A {chain} -j MARK --set-xmark {_mark(0, ACCEPT | PASS)}"]
        isolating = self.selection.isolating[direction].get(pod.key, [])
        if isolating:
            out.append(f"-A {chain} -m comment --comment \"Start of tier default\" -j MARK --set-xmark {_mark(0, PASS)}")
            for pi in isolating:
                p = self.selection.policies[pi]
                out.append(f"-A {chain} -m mark --mark {_mark(0, PASS)} -j {policy_chain(direction, p.namespace, p.name)}")
                out.append(f"-A {chain} -m comment --comment \"Return if policy accepted\" "
                           f"-m mark --mark {_mark(ACCEPT, ACCEPT)} -j RETURN")
            out.append(f"-A {chain} -m comment --comment \"End of tier default. Drop if no policies passed packet\" "
                       f"-m mark --mark {_mark(0, PASS)} -j DROP")
        for profile in (f"kns.{pod.namespace}", f"ksa.{pod.namespace}.default"):
            out.append(f"-A {chain} -j {profile_chain(direction, profile)}")
            out.append(f"-A {chain} -m comment --comment \"Return if profile accepted\" "
                       f"-m mark --mark {_mark(ACCEPT, ACCEPT)} -j RETURN")
        out.append(f"-A {chain} -m comment --comment \"Drop if no profiles matched\" -j DROP")
        return out

    def ruleset_text(self, node_name: str) -> str:
        pods = self.endpoints(node_name)
        chains: dict[str, list[str]] = {}

        def add(chain: str, rules: list[str]) -> None:
            chains.setdefault(chain, []).extend(rules)

        static = ["cali-FORWARD", "cali-INPUT", "cali-OUTPUT", "cali-from-wl-dispatch", "cali-to-wl-dispatch",
                  "cali-wl-to-host", "cali-from-hep-forward", "cali-to-hep-forward", "cali-cidr-block",
                  "cali-from-host-endpoint", "cali-to-host-endpoint"]
        for name in static:
            add(name, [])
        clear = _mark(0, ALL_BITS & ~ACCEPT)
        add("cali-FORWARD", [
            f"-A cali-FORWARD -m comment --comment \"Clear all Calico marks except accept\" -j MARK --set-xmark {clear}",
            f"-A cali-FORWARD -m mark --mark {_mark(0, ACCEPT)} -j cali-from-hep-forward",
            "-A cali-FORWARD -i cali+ -m comment --comment \"From workload: egress policy of the source pod\" -j cali-from-wl-dispatch",
            "-A cali-FORWARD -o cali+ -m comment --comment \"To workload: ingress policy of the destination pod\" -j cali-to-wl-dispatch",
            "-A cali-FORWARD -j cali-to-hep-forward",
            "-A cali-FORWARD -j cali-cidr-block"])
        add("cali-INPUT", [
            "-A cali-INPUT -i cali+ -m comment --comment \"From workload to this host: egress policy applies\" -g cali-wl-to-host",
            f"-A cali-INPUT -m mark --mark {_mark(ACCEPT, ACCEPT)} -j ACCEPT",
            f"-A cali-INPUT -j MARK --set-xmark {_mark(0, ALL_BITS)}",
            "-A cali-INPUT -j cali-from-host-endpoint",
            f"-A cali-INPUT -m comment --comment \"Host endpoint policy accepted packet.\" -m mark --mark {_mark(ACCEPT, ACCEPT)} -j ACCEPT"])
        add("cali-wl-to-host", [
            "-A cali-wl-to-host -j cali-from-wl-dispatch",
            "-A cali-wl-to-host -m comment --comment \"Configured DefaultEndpointToHostAction\" -j ACCEPT"])
        add("cali-OUTPUT", [
            f"-A cali-OUTPUT -m mark --mark {_mark(ACCEPT, ACCEPT)} -j ACCEPT",
            "-A cali-OUTPUT -o cali+ -m comment --comment \"Host to local workload: not policed (own node always allowed)\" -j RETURN",
            f"-A cali-OUTPUT -j MARK --set-xmark {_mark(0, ALL_BITS)}",
            "-A cali-OUTPUT -m conntrack ! --ctstate DNAT -j cali-to-host-endpoint",
            f"-A cali-OUTPUT -m comment --comment \"Host endpoint policy accepted packet.\" -m mark --mark {_mark(ACCEPT, ACCEPT)} -j ACCEPT"])
        used: dict[str, set[int]] = {INGRESS: set(), EGRESS: set()}
        namespaces = set()
        for pod in pods:
            iface = interface_name(pod)
            add("cali-from-wl-dispatch", [f"-A cali-from-wl-dispatch -i {iface} -g {endpoint_chain(EGRESS, iface)}"])
            add("cali-to-wl-dispatch", [f"-A cali-to-wl-dispatch -o {iface} -g {endpoint_chain(INGRESS, iface)}"])
            for d in (INGRESS, EGRESS):
                add(endpoint_chain(d, iface), self.endpoint_rules(d, pod))
                used[d].update(self.selection.isolating[d].get(pod.key, []))
            namespaces.add(pod.namespace)
        add("cali-from-wl-dispatch", ["-A cali-from-wl-dispatch -m comment --comment \"Unknown interface\" -j DROP"])
        add("cali-to-wl-dispatch", ["-A cali-to-wl-dispatch -m comment --comment \"Unknown interface\" -j DROP"])
        for d in (INGRESS, EGRESS):
            for pi in sorted(used[d]):
                p = self.selection.policies[pi]
                add(policy_chain(d, p.namespace, p.name), self.policy_rules(d, pi))
            for ns in sorted(namespaces):
                kns = profile_chain(d, f"kns.{ns}")
                add(kns, [f"-A {kns} -m comment --comment \"Profile kns.{ns}: namespace default allow\" "
                          f"-j MARK --set-xmark {_mark(ACCEPT, ACCEPT)}",
                          f"-A {kns} -m mark --mark {_mark(ACCEPT, ACCEPT)} -j RETURN"])
                add(profile_chain(d, f"ksa.{ns}.default"), [])
        lines = [f"# Calico (Felix, iptables mode) filter rules for node {node_name}, generated by kplab", "*filter",
                 ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        lines += [f":{name} - [0:0]" for name in sorted(chains)]
        lines += ["-A INPUT -m comment --comment \"Calico: policy for traffic to this host\" -j cali-INPUT",
                  "-A FORWARD -m comment --comment \"Calico: policy for forwarded traffic\" -j cali-FORWARD",
                  f"-A FORWARD -m comment --comment \"Policy explicitly accepted packet.\" -m mark --mark {_mark(ACCEPT, ACCEPT)} -j ACCEPT",
                  "-A OUTPUT -m comment --comment \"Calico: policy for traffic from this host\" -j cali-OUTPUT"]
        for name in sorted(chains):
            lines += chains[name]
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def ipsets_text(self) -> str:
        """`ipset list` text of every set any node's rules use (Felix programs the same sets on every node)."""
        for node in sorted(self.cluster.nodes):
            self.ruleset_text(node)  # rendering registers the sets each node references
        blocks = []
        for name in sorted(self.ipsets):
            s = self.ipsets[name]
            blocks.append("\n".join(
                [f"# selector: {s.selector}", f"Name: {name}", f"Type: {s.type}", "Revision: 0",
                 "Header: family inet hashsize 1024 maxelem 1048576", "References: 1",
                 f"Number of entries: {len(s.members)}", "Members:"] + s.members))
        return "\n\n".join(blocks) + ("\n" if blocks else "")


def _ip_key(ip: str):
    return ipaddress.ip_address(ip)


def _port_groups(rule: PolicyRule) -> list[tuple[str | None, list[tuple[str, str | None]]]]:
    """Per protocol (Calico makes one rule per protocol): the port alternatives — numeric multiport chunks of 15
    (ranges as a:b), named ports, or ("any", None) when that protocol is allowed on every port."""
    if rule.ports is None:
        return [(None, [("any", None)])]
    groups: dict[str, list] = {}
    for pp in rule.ports:
        groups.setdefault(pp.protocol, []).append(pp)
    out = []
    for protocol, entries in groups.items():
        if any(pp.port is None for pp in entries):
            out.append((protocol, [("any", None)]))
            continue
        numeric = [f"{pp.port}:{pp.end_port}" if pp.end_port not in (None, pp.port) else str(pp.port)
                   for pp in entries if not pp.named]
        numeric = list(dict.fromkeys(numeric))
        alts = [("numeric", ",".join(numeric[i:i + MULTIPORT_MAX])) for i in range(0, len(numeric), MULTIPORT_MAX)]
        alts += [("named", name) for name in dict.fromkeys(pp.port for pp in entries if pp.named)]
        out.append((protocol, alts))
    return out


def calico_ruleset_text(cluster: Cluster, node_name: str) -> str:
    """The node's filter table as Felix writes it, in iptables-save form (built-in chains hold only Calico's jumps)."""
    return CalicoRules.build(cluster).ruleset_text(node_name)


def calico_ipsets_text(cluster: Cluster) -> str:
    """Every Calico IP set the nodes' rules reference, printed like `ipset list`."""
    return CalicoRules.build(cluster).ipsets_text()
