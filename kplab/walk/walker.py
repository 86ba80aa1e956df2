"""The walker: moves a packet from host to host, and nothing else.

At every host the netfilter engine decides (hooks, conntrack, NAT, verdict) and the host's
routing table picks the out interface and next hop; the topology says where that interface
leads. Service load balancing, DNAT, SNAT, NodePort and the Local-policy drop all come out of
the node's rules — there is no Service logic here.

`Network` is built once per cluster (topology, parsed rule sets, one base stack per host);
`Session` copies a host's stack on first touch so a trace never disturbs the base and the
packets of one connection share conntrack.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kplab.walk.host import Host
from kplab.walk.listener import Listening, listeners, refusal
from kplab.walk.topology import Topology
from kplab.walk.trace import (ConntrackDetail, DeliverDetail, DropDetail, EncapsulationDetail, Flow, FlowDiff, Hop,
                              LinkDetail, NatDetail, Outcome, PolicyDetail, RouteDetail, RuleDetail, Step, Trace)

MAX_HOPS = 32  # a packet looping between routers is dropped when its TTL runs out
EMPTY_RULESET = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
CLIENT_PORT = 43210  # the source port clients use (any ephemeral port would do)


class Network:
    """Everything about a cluster's network that does not change between traces."""

    def __init__(self, cluster, topology: Topology | None = None, layout: str = "current",
                 policy: bool | None = None, rules: dict[str, str] | None = None):
        self.cluster = cluster
        self.topology = topology or Topology.from_cluster(cluster)
        self.layout = layout
        has_policies = bool(getattr(cluster, "networkpolicies", None))
        self.policy = (has_policies and self.topology.cni == "calico") if policy is None else policy
        self.rules_override = dict(rules or {})  # node -> iptables-save text (e.g. pasted from a real node)
        self._base: dict[str, Any] = {}
        self._texts: dict[str, str] = {}
        self._listening: dict[str, Listening] | None = None

    def listening(self, host_name: str) -> Listening:
        """What listens on a host (kplab.walk.listener); hosts it does not list are taken to listen anywhere."""
        if self._listening is None:
            self._listening = listeners(self.cluster, self.topology)
        return self._listening.get(host_name) or Listening(anything=True, why_anything="not modelled")

    # ---- rules ------------------------------------------------------------------------------
    def ruleset_text(self, host_name: str) -> str:
        """The iptables-save text a host runs: kube-proxy's (+ Calico's policy rules) on nodes."""
        if host_name in self._texts:
            return self._texts[host_name]
        host = self.topology.hosts[host_name]
        if host_name in self.rules_override:
            text = self.rules_override[host_name]
        elif host.kind == "node":
            from kplab.kubeproxy import node_ruleset_text
            text = node_ruleset_text(self.cluster, host_name, layout=self.layout)
        else:
            text = EMPTY_RULESET
        self._texts[host_name] = text
        return text

    def _ruleset(self, host_name: str):
        from kplab.netfilter import parse_ruleset
        host = self.topology.hosts[host_name]
        ruleset = parse_ruleset(self.ruleset_text(host_name), source=f"{host_name} rules")
        ipsets = None
        if host.kind == "node" and host_name not in self.rules_override:
            from kplab.cni.masquerade import masquerade_rules_text
            topo = self.topology
            text = masquerade_rules_text(topo.cni, topo.pod_cidr, topo.node_cidrs.get(host_name))
            cni_nat = parse_ruleset(text, source=f"{host_name} CNI nat rules")
            ruleset = ruleset.combine(cni_nat)
        if host.kind == "node" and self.policy and host_name not in self.rules_override:
            from kplab.cni.calico import calico_ruleset_text
            calico = parse_ruleset(calico_ruleset_text(self.cluster, host_name), source=f"{host_name} calico rules")
            ruleset = ruleset.combine(calico)
            from kplab.cni.calico import calico_ipsets_text
            from kplab.netfilter import parse_ipsets
            ipsets = parse_ipsets(calico_ipsets_text(self.cluster), "calico ipsets")
        return ruleset, ipsets

    def rules(self, host_name: str) -> str:
        """Everything the host's netfilter holds, as iptables-save text (kube-proxy + CNI)."""
        return self._ruleset(host_name)[0].save()

    def base_stack(self, host_name: str):
        stack = self._base.get(host_name)
        if stack is None:
            from kplab.netfilter import Stack
            host = self.topology.hosts[host_name]
            ruleset, ipsets = self._ruleset(host_name)
            stack = Stack(ruleset, local_ips=host.local_ips, interfaces=host.interface_addresses(),
                          route=_router_for(host), ipsets=ipsets, ip_forward=host.ip_forward)
            self._base[host_name] = stack
        return stack

    def session(self) -> "Session":
        return Session(self)


def _router_for(host: Host):
    """The route callback the engine calls: the kernel's FIB lookup for this host.

    The Route of a unicast entry depends only on the entry and the host's interfaces, which stay as they are
    for the Network's life (a changed cluster builds a new Network), so it is made once per entry."""
    from kplab.netfilter import Route

    made: dict[int, tuple[Any, Route]] = {}  # id(entry) -> (entry, its Route); the entry is kept alive with it

    def route(packet) -> Any:
        entry = host.lookup(packet.dst)
        if entry is None:
            return Route.failed("no route")
        if entry.kind in ("blackhole", "unreachable", "prohibit"):
            return Route.failed(entry.kind)
        if entry.kind == "local":
            return Route(local=True, out_iface=None, gateway=None, src=packet.dst)
        known = made.get(id(entry))
        if known is not None and known[0] is entry:
            return known[1]
        dev, via = entry.dev, entry.via
        if entry.nexthops:
            dev, via = entry.nexthops[0].dev, entry.nexthops[0].via
        found = Route(local=False, out_iface=dev, gateway=via, src=host.source_for(entry))
        made[id(entry)] = (entry, found)
        return found

    return route


@dataclass
class _HopDraft:
    """A Hop while the packet is still on the host (the walk appends steps); frozen by `hop()`."""

    host: str
    host_kind: str
    in_iface: str | None
    packet_in: Any
    out_iface: str | None = None
    packet_out: Any = None
    steps: list = field(default_factory=list)  # Steps, and (engine walk, host) pairs converted only by hop()
    path: str | None = None

    def decisions(self) -> list:
        """The steps so far, engine steps as the engine recorded them (each has table and action)."""
        return [e for s in self.steps for e in (s[0].steps if isinstance(s, tuple) else (s,))]

    def hop(self) -> Hop:
        steps = []
        for s in self.steps:
            steps.extend(_steps_from(*s) if isinstance(s, tuple) else (s,))
        return Hop(self.host, self.host_kind, self.in_iface, self.out_iface, Flow.of(self.packet_in),
                   Flow.of(self.packet_out) if self.packet_out is not None else None, tuple(steps), self.path)


@dataclass
class Walked:
    """What one packet did on its way: the hops, how it ended, and where."""

    hops: list[_HopDraft] = field(default_factory=list)
    verdict: str = "DROP"
    host: str | None = None  # where it was delivered
    packet: Any = None  # as delivered
    reason: str = ""
    rejected: Any = None  # the engine's walk of a REJECTed packet (its error is sent from `host`)
    refused: Any = None  # the reset / port unreachable `host`'s kernel sends where nothing listens


class Session:
    """Per-trace state: each host's stack, copied from the base on first use."""

    def __init__(self, network: Network):
        self.network = network
        self.topology = network.topology
        self.stacks: dict[str, Any] = {}

    def stack(self, host_name: str):
        stack = self.stacks.get(host_name)
        if stack is None:
            stack = self.network.base_stack(host_name).copy()
            self.stacks[host_name] = stack
        return stack

    def source_address(self, host_name: str, dst: str) -> str:
        host = self.topology.hosts[host_name]
        entry = host.lookup(dst)
        if entry is not None and entry.kind == "local":
            # `ip route get 127.0.0.53` says `local 127.0.0.53 dev lo src 127.0.0.1`: the loopback block's
            # preferred source is 127.0.0.1; another own address is its own source
            return "127.0.0.1" if dst.startswith("127.") else dst
        if entry is None:
            return host.address or "0.0.0.0"
        return host.source_for(entry) or host.address or "0.0.0.0"

    # ---- the walk ----------------------------------------------------------------------------
    def walk(self, packet, start: str, chooser=None, rejected=None) -> Walked:
        """Send `packet` from host `start` and follow it until it is delivered, dropped or rejected.

        With `rejected` (the engine's walk of a packet `start` rejected), `packet` is the error REJECT sends
        back and leaves `start` attached to the rejected packet's connection, as the kernel sends it."""
        result = Walked()
        host_name, in_iface, port, tunnel = start, None, None, None
        while True:
            if len(result.hops) >= MAX_HOPS:
                result.verdict, result.reason = "DROP", "TTL exceeded: the packet was looping"
                return result
            host = self.topology.hosts[host_name]
            stack = self.stack(host_name)
            hop = _HopDraft(host_name, host.kind, in_iface, packet)
            result.hops.append(hop)
            if tunnel is not None:
                hop.steps.append(_encapsulation(tunnel, "decapsulate", f"inner packet appears on {in_iface}"))
            if port is not None and in_iface is not None:
                hop.steps.append(_arrival(port, in_iface if port != in_iface else None))
            if rejected is not None:
                walk, rejected = stack.send_reject(rejected, chooser=chooser), None
            elif in_iface is None:
                walk = stack.send(packet, chooser=chooser)
            else:
                # a port other than the interface: the packet came through a bridge port (br_netfilter's physindev)
                bridge_port = port if port is not None and port != in_iface else None
                walk = stack.receive(packet, in_iface, chooser=chooser, physdev_in=bridge_port)
            hop.path = getattr(walk, "path", None)
            route_entry = None
            out_packet = walk.packet
            hop.steps.append((walk, host))  # converted to trace steps only for the walk a Trace shows
            if walk.verdict != "ACCEPT":
                hop.packet_out = out_packet
                reject = getattr(walk, "reject_with", None)
                result.verdict = walk.verdict
                if walk.verdict == "REJECT":
                    result.host, result.rejected = host_name, walk
                    result.reason = f"rejected on {host_name}" + (f" with {reject}" if reject else "") + \
                        f"; the error goes back to {out_packet.src}"
                    with_ = reject or "icmp-port-unreachable"
                    hop.steps.append(Step("drop", "REJECT", f"REJECT --reject-with {with_}",
                                          DropDetail(result.reason, with_),
                                          note=f"{host_name} answers {out_packet.src} with an error"))
                else:
                    result.reason = _drop_reason(walk, host)
                    hop.steps.append(_drop(result.reason))
                    if getattr(walk, "route_failure", None) and stack.reject_error(walk) is not None:
                        # the kernel's ip_error: an ICMP destination-unreachable goes back to the source
                        result.host, result.rejected = host_name, walk
                return result
            route = walk.route
            if route is None or route.local:
                hop.packet_out = None
                listener = None
                if _opens_connection(walk, out_packet):
                    listener = self.network.listening(host_name).who(out_packet.protocol, out_packet.dport)
                    error = refusal(out_packet) if listener is None else None
                    if error is not None:
                        told = "TCP reset" if error.protocol == "tcp" else "ICMP port unreachable"
                        result.verdict, result.host, result.refused = "REJECT", host_name, error
                        result.reason = (f"nothing listens on {_addr(out_packet.dst, out_packet.dport)} "
                                         f"({out_packet.protocol}) on {host_name}: the kernel answers with a {told} "
                                         f"(connection refused)")
                        hop.steps.append(Step("drop", "REJECT", result.reason, DropDetail(result.reason, None),
                                              note=f"{host_name} answers {out_packet.src} with a {told}"))
                        return result
                result.verdict, result.host, result.packet = "ACCEPT", host_name, out_packet
                hop.steps.append(_delivery(out_packet, listener))
                return result
            if route.out_iface is None:
                result.verdict, result.reason = "DROP", f"{host_name} has no route to {out_packet.dst}"
                hop.steps.append(_drop(result.reason))
                return result
            route_entry = host.lookup(out_packet.dst)
            nexthop = route.gateway or out_packet.dst
            out_iface = route.out_iface
            if route_entry is not None and len(route_entry.nexthops) > 1:
                index = _choose(chooser, len(route_entry.nexthops))
                chosen = route_entry.nexthops[index]
                nexthop, out_iface = chosen.via, chosen.dev
                hop.steps.append(Step("route", "choose", f"nexthop via {chosen.via} dev {chosen.dev}",
                                      RouteDetail(str(route_entry).splitlines()[0], chosen.dev, chosen.via),
                                      note=f"flow hash picks 1 of {len(route_entry.nexthops)} healthy next hops"
                                      + (f"; {route_entry.comment}" if route_entry.comment else "")))
            hop.out_iface = out_iface
            hop.packet_out = out_packet
            peer = self.topology.peer(host_name, out_iface, nexthop)
            if peer is None:
                result.verdict = "DROP"
                iface = host.interfaces.get(out_iface)
                if iface is not None and iface.kind == "wan":
                    result.reason = _lost_reason(out_packet)
                    hop.steps.append(_drop(result.reason,
                                           note="no host owns the address: nothing is delivered, nothing answers"))
                else:
                    result.reason = f"{host_name}: no neighbour answers for {nexthop} on {out_iface}"
                    hop.steps.append(_drop(result.reason))
                return result
            if peer.tunnel is not None:
                hop.steps.append(_encapsulation(peer.tunnel, "encapsulate",
                                                f"carried over the node network to {peer.host}"))
            packet = _fresh_skb(out_packet)
            host_name, in_iface, port, tunnel = peer.host, peer.iface, peer.port or peer.iface, peer.tunnel


def _lost_reason(packet) -> str:
    """A packet for an address nobody owns (a ClusterIP no rule translated, an unused address): the router sends
    it on by its default route and no answer ever comes back."""
    waits = "the client times out" if packet.protocol == "tcp" and "SYN" in packet.flags else \
        "no answer comes back"
    return f"no host owns {packet.dst}; the packet leaves by the default route and is lost: {waits}"


def _drop(reason: str, note: str = "") -> Step:
    return Step("drop", "DROP", reason, DropDetail(reason), note=note)


@functools.lru_cache(maxsize=4096)
def _arrival(port: str, bridge: str | None) -> Step:
    """The link step of a packet arriving on `port` (a port of `bridge`, if any). A value: made once."""
    return Step("link", "receive", f"arrives on {port}" + (f" (bridge {bridge})" if bridge else ""),
                LinkDetail(port, bridge))


@functools.lru_cache(maxsize=4096)
def _encapsulation(tunnel: tuple[str, str, str, int], action: str, note: str) -> Step:
    """A tunnel step; `tunnel` is the topology's (kind, outer src, outer dst, outer dport or IP protocol). A value:
    made once."""
    kind, outer_src, outer_dst, extra = tunnel
    text = f"{kind} {outer_src} -> {outer_dst}" + (f" udp dport {extra}" if kind == "vxlan" else " proto 4 (ipip)")
    return Step("encapsulation", action, text,
                EncapsulationDetail(kind, outer_src, outer_dst, extra if kind == "vxlan" else None), note=note)


def _opens_connection(walk, packet) -> bool:
    """A connection's first packet reaching its host (a SYN, a UDP datagram), not an answer or an error."""
    if getattr(walk, "reply_direction", False) or getattr(walk, "ctstate", "NEW") not in ("NEW", "UNTRACKED"):
        return False
    return (packet.protocol == "tcp" and packet.flags == {"SYN"}) or packet.protocol == "udp"


def _delivery(packet, listener: str | None = None) -> Step:
    """The last step: which socket gets the packet — and, for an error, what the application is told."""
    source = _addr(packet.src, packet.sport)
    seen = f"source seen: {source}"
    if getattr(packet, "is_icmp_error", False) and packet.embedded is not None:
        inner = packet.embedded
        told = _socket_error(packet)
        return Step("deliver", "deliver", f"to the socket that sent {inner.protocol} {_addr(inner.src, inner.sport)} -> "
                    f"{_addr(inner.dst, inner.dport)}" + (f": {told}" if told else ""),
                    DeliverDetail(_addr(inner.src, inner.sport), source, told),
                    note=f"{seen}; the quoted packet names the connection")
    if packet.protocol == "tcp" and "RST" in packet.flags:
        return Step("deliver", "deliver", f"to the socket connected to {source}: TCP reset — "
                    "connection refused (ECONNREFUSED) if it was still connecting",
                    DeliverDetail(_addr(packet.dst, packet.dport), source, "connection refused (ECONNREFUSED)"),
                    note=seen)
    if packet.dport is None:
        where = f"to {packet.dst}"
    elif packet.protocol == "tcp" and packet.flags != {"SYN"}:  # an answer: the connected socket, nobody listens
        where = f"to the socket on {packet.dst}:{packet.dport} connected to {source}"
    else:
        where = f"to the socket listening on {packet.dst}:{packet.dport}"
    return Step("deliver", "deliver", where,
                DeliverDetail(_addr(packet.dst, packet.dport), source),
                note=seen + (f"; listening: {listener}" if listener else ""))


# What each destination-unreachable code means to a socket (icmp_err_convert in net/ipv4/icmp.c): the errno,
# and whether it is "fatal" (reported to a UDP or established TCP socket) or soft (ignored without IP_RECVERR).
_UNREACH_ERRNO = {0: ("ENETUNREACH", "network unreachable", False), 1: ("EHOSTUNREACH", "no route to host", False),
                  2: ("ENOPROTOOPT", "protocol not available", True), 3: ("ECONNREFUSED", "connection refused", True),
                  9: ("ECONNREFUSED", "connection refused", True), 10: ("EHOSTUNREACH", "no route to host", True),
                  13: ("EHOSTUNREACH", "no route to host", True)}


def _socket_error(packet) -> str:
    if packet.icmp_type != "destination-unreachable" or packet.icmp_code not in _UNREACH_ERRNO:
        return ""
    errno, words, fatal = _UNREACH_ERRNO[packet.icmp_code]
    inner = packet.embedded
    connecting = inner is not None and inner.protocol == "tcp" and "SYN" in inner.flags and "ACK" not in inner.flags
    if connecting or fatal:  # tcp_v4_err ends a connect() (SYN_SENT) on any destination-unreachable
        return f"{words} ({errno})" + (": connect() fails at once" if connecting else "")
    return f"{words} ({errno}), a soft error: the socket ignores it (unless IP_RECVERR) and waits until it times out"


def _fresh_skb(packet):
    """A packet leaving a host loses its skb mark (marks never cross the wire)."""
    if getattr(packet, "mark", 0):
        return packet.replace(mark=0)
    return packet


def _addr(ip: str, port: int | None) -> str:
    return f"{ip}:{port}" if port is not None else ip


def _choose(chooser, n: int) -> int:
    """One of n equally likely next hops, asked of the engine's chooser so outcomes stay enumerable.

    Asked like kube-proxy's statistic chain: take choice i with probability 1/(n-i).
    """
    from kplab.netfilter.probability import Probability
    if chooser is None or n <= 1:
        return 0
    for i in range(n - 1):
        if chooser.choose(Probability.parse(f"{1 / (n - i):.10f}")):
            return i
    return n - 1


def _drop_reason(walk, host: Host) -> str:
    for step in reversed(getattr(walk, "steps", [])):
        verdict = getattr(step, "verdict", None) or getattr(step, "action", None)
        if verdict in ("DROP", "REJECT"):
            text = getattr(step, "rule_text", None) or ""
            chain = getattr(step, "chain", None)
            table = getattr(step, "table", None)
            note = getattr(step, "note", "") or ""
            if not text:
                return f"dropped on {host.name}: {note or 'by ' + (table or '') + '/' + (chain or '')}"
            return f"dropped on {host.name} by {table}/{chain} {text}"
    if not host.ip_forward and getattr(walk, "path", None) == "forward":
        return f"dropped on {host.name}: ip_forward=0, so the host does not forward packets"
    return f"dropped on {host.name}"


def _conntrack_tuple(packet) -> str:
    """The packet's tuple as conntrack names it: `tcp src=A dst=B sport=P dport=Q`."""
    ports = f" sport={packet.sport} dport={packet.dport}" if packet.sport is not None else ""
    return f"{packet.protocol} src={packet.src} dst={packet.dst}{ports}"


def _steps_from(walk, host: Host) -> list[Step]:
    """The engine's events on one host in the trace's vocabulary, each with its typed detail: the one place
    where the netfilter engine's record becomes trace steps (route steps printed like `ip route`; rules of the
    CNI's policy chains as policy steps, named by kplab.cni.caliconame.policy_rule)."""
    out: list[Step] = []
    for s in walk.steps:
        if s.kind == "route":
            out.append(_route_step(s, host, walk.packet))
            continue
        before, after = s.before, s.after
        diff = _NO_CHANGE if before is after else FlowDiff.between(before, after)
        changed = bool(diff.changes)
        # what of the packet a step shows beyond its diff: conntrack steps name the packet's tuple
        tuple_text = _conntrack_tuple(before) if s.kind == "conntrack" else ""
        step = _step(s.kind, s.table, s.chain, s.hook, s.rule_number, s.action or "", s.rule_text or "",
                     s.note or "", changed, tuple_text)
        out.append(Step(step.kind, step.action, step.text, step.detail, diff, step.note) if changed else step)
    return out


def _route_step(s, host: Host, packet) -> Step:
    target = (s.after or s.before or packet).dst
    entry = host.lookup(target)
    text = str(entry).splitlines()[0] if entry is not None else f"no route to {target}"
    dev = via = None
    if entry is not None:
        dev, via = (entry.nexthops[0].dev, entry.nexthops[0].via) if entry.nexthops else (entry.dev, entry.via)
        if entry.comment:
            text += f"  # {entry.comment}"
    action = s.action or ("local" if entry and entry.kind == "local" else "forward")
    note = s.note or ""
    return Step("route", action, text, RouteDetail(text, dev if action != "DROP" else None, via),
                diff=FlowDiff.between(s.before, s.after), note=note if action == "DROP" or "re-routing" in note else "")


_NO_CHANGE = FlowDiff()


@functools.lru_cache(maxsize=65536)
def _step(kind: str, table, chain, hook, number, action: str, text: str, note: str, changed: bool,
          tuple_text: str) -> Step:
    """One engine decision (other than routing) as a Step without its diff (`_steps_from` adds the diff of the
    packets when the decision `changed` it; a conntrack step names the packet's tuple, `tuple_text`). Steps are
    values, so the same decision — the common case when a trace is asked again — is converted once; the key
    holds no packet, whose hashing would cost more than the conversion saves."""
    from kplab.cni.caliconame import policy_rule

    if kind in ("policy", "fall-off"):
        text = text or f":{chain} policy"
        return Step("rule", action, text, RuleDetail(table, chain, hook, None, text, action),
                    note="chain policy" if kind == "policy" else "end of chain")
    if kind == "conntrack":
        entry = note if action == "confirm" else ""
        return Step("conntrack", action, text, ConntrackDetail(hook, action, tuple_text, entry), note=note)
    if kind == "nat" or (changed and action in ("DNAT", "SNAT", "MASQUERADE", "REDIRECT")):
        # a NAT target that rewrote the packet, or conntrack's NAT of a connection already translated
        return Step("nat", action, text, NatDetail(table, chain, hook, number, text, action), note=note)
    hit = policy_rule(table, chain, text)
    if hit is not None:
        policy, direction, index, reason = hit
        return Step("policy", action, text, PolicyDetail(table, chain, hook, number, text, action, policy, direction,
                                                         index, reason), note=note)
    return Step("rule", action, text, RuleDetail(table, chain, hook, number, text, action), note=note)


# ---- traces ---------------------------------------------------------------------------------

def _packet(src: str, dst: str, protocol: str, sport: int | None, dport: int | None, flags: str | None):
    from kplab.netfilter import Packet
    if protocol == "icmp":
        sport = dport = None
    return Packet(src=src, dst=dst, protocol=protocol, sport=sport, dport=dport,
                  tcp_flags=(flags or "") if protocol == "tcp" else "")


def reply_packet(delivered, flags: str | None = None):
    """The answer a socket sends back: addresses and ports swapped."""
    if flags is None and delivered.protocol == "tcp":
        flags = "SYN,ACK" if delivered.tcp_flags == "SYN" else "ACK"
    return _packet(delivered.dst, delivered.src, delivered.protocol, delivered.dport, delivered.sport, flags)


def error_trace(session: Session, walked: Walked, client: str, chooser=None) -> Trace | None:
    """A REJECT's error (ICMP destination-unreachable or TCP reset) walked back from the rejecting host."""
    if walked.refused is not None:  # the host's own TCP/UDP stack answers: a plain packet, conntrack finds it
        error = walked.refused
        back = session.walk(error, walked.host, chooser)
    else:
        if walked.verdict not in ("REJECT", "DROP") or walked.rejected is None:
            return None
        error = session.stack(walked.host).reject_error(walked.rejected)
        if error is None:
            return None
        back = session.walk(error, walked.host, chooser, rejected=walked.rejected)
    trace = _as_trace(back, error, walked.host, client)
    if back.verdict == "ACCEPT":
        told = _socket_error(back.packet) if back.packet.is_icmp_error else \
            "connection refused (ECONNREFUSED)" if "RST" in back.packet.flags else ""
        from kplab.netfilter.packet import ICMP_UNREACH_CODES
        what = f"icmp {ICMP_UNREACH_CODES.get(error.icmp_code, error.icmp_type)}" if error.is_icmp_error else "TCP reset"
        walked.reason += f"; {what} from {trace.source_seen} delivered to {back.host}" + (f": {told}" if told else "")
    return trace


def blocked_on_the_way_out(walked: Walked | Trace, protocol: str) -> bool:
    """A UDP datagram that the sending host's own rules dropped or rejected (OUTPUT or POSTROUTING): ip_local_out
    returns NF_DROP's -EPERM and udp_sendmsg hands it to the application. (A TCP connect() ignores it and
    retransmits; a REJECT's ICMP error then ends it.)"""
    if protocol != "udp" or walked.verdict not in ("DROP", "REJECT") or len(walked.hops) != 1:
        return False
    hop = walked.hops[0]  # a walk in progress (its engine steps) or a finished Trace's Hop (its Steps)
    steps = hop.decisions() if isinstance(hop, _HopDraft) else hop.steps
    if hop.path != "output":
        return False
    for s in steps:
        if s.kind == "route" and s.action == "loopback":
            return False  # sent to itself: ip_local_out succeeded; the drop came after lo, in INPUT (an ICMP error)
        if s.table and s.action in ("DROP", "REJECT"):
            return True
    return False


def _as_trace(walked: Walked, packet, source: str, destination: str, dns=(), reply: Trace | None = None,
              outcomes: tuple[Outcome, ...] = (), seed: int | None = None, notes: tuple[str, ...] = (),
              network: Network | None = None) -> Trace:
    """The frozen Trace of a finished walk (carrying the Network it was walked on, for the views)."""
    delivered = seen = None
    if walked.verdict == "ACCEPT" and walked.host is not None:
        delivered = walked.host
        seen = _addr(walked.packet.src, walked.packet.sport)
    return Trace(source=source, destination=destination, packet=Flow.of(packet), verdict=walked.verdict,
                 hops=tuple(h.hop() for h in walked.hops), delivered_to=delivered, source_seen=seen,
                 packet_delivered=Flow.of(walked.packet) if walked.packet is not None else None,
                 reason=walked.reason or (f"delivered to {delivered}" if delivered else ""), dns=tuple(dns),
                 all_outcomes=outcomes, reply=reply, seed=seed, notes=tuple(notes), network=network)


def _outcome(walked: Walked, probability: Fraction) -> Outcome:
    """A walk's ending as an Outcome (the same fields _as_trace gives the Trace)."""
    delivered = walked.host if walked.verdict == "ACCEPT" else None
    seen = _addr(walked.packet.src, walked.packet.sport) if delivered is not None else None
    return Outcome(probability, walked.verdict, delivered, seen, tuple(h.host for h in walked.hops),
                   Flow.of(walked.packet) if walked.packet is not None else None,
                   walked.reason or (f"delivered to {delivered}" if delivered else ""))


class _Recorder:
    """Passes a chooser's decisions through and keeps them, so a branch can be matched against a seed."""

    def __init__(self, chooser):
        self.chooser = chooser
        self.calls: list[tuple[Any, bool]] = []

    def choose(self, probability, rule=None) -> bool:
        hit = self.chooser.choose(probability, rule)
        self.calls.append((probability, hit))
        return hit


def _seed_takes(calls: list[tuple[Any, bool]], rng: random.Random, draws: list[int]) -> bool:
    """True when SeededChooser(seed) makes exactly these decisions (it draws one random u32 per decision).

    `rng` is random.Random(seed) and `draws` what it has drawn so far, shared by the branches checked for one
    trace (seeding a Random costs more than a decision)."""
    while len(draws) < len(calls):
        draws.append(rng.getrandbits(32))
    return all(probability.hits(u) == hit for (probability, hit), u in zip(calls, draws))


def _walk_every_branch(network: Network, src: str, dst: str, port: int | None, protocol: str, reply: bool):
    """Walk every branch of the rules' random choices once: ([(probability, (decisions, packet, walked, back))],
    outcomes merged by ending, most likely first, the DNS steps)."""
    from kplab.netfilter import enumerate_outcomes
    from kplab.walk.address import resolve_destination, resolve_source

    protocol = protocol.lower()
    cluster, topology = network.cluster, network.topology
    source = resolve_source(cluster, topology, src)
    target = resolve_destination(cluster, topology, dst, port, protocol, source.namespace)
    if topology.is_outside(target.ip):
        topology.outside_host(target.ip)
    flags = "SYN" if protocol == "tcp" else None

    def once(chooser):
        recorder = _Recorder(chooser)
        session = network.session()
        pkt = _packet(session.source_address(source.host, target.ip), target.ip, protocol, CLIENT_PORT,
                      target.port, flags)
        walked = session.walk(pkt, source.host, recorder)
        back = error_trace(session, walked, src, recorder)
        if blocked_on_the_way_out(walked, protocol):
            walked.reason += ("; the sender's own netfilter dropped it on the way out, so send() fails at once "
                              "with EPERM (Operation not permitted)")
        if reply and walked.verdict == "ACCEPT":
            answer = reply_packet(walked.packet)
            back = _as_trace(session.walk(answer, walked.host, recorder), answer, walked.host, src)
        return recorder.calls, pkt, walked, back

    branches = enumerate_outcomes(once)
    merged: dict[tuple, Outcome] = {}
    for probability, (_, _, walked, _) in branches:
        o = _outcome(walked, Fraction(probability))
        key = (o.verdict, o.delivered_to, o.source_seen, o.hosts, o.packet_delivered)
        if key in merged:
            o = Outcome(merged[key].probability + o.probability, *(getattr(o, f) for f in _OUTCOME_REST))
        merged[key] = o
    outcomes = tuple(sorted(merged.values(), key=lambda o: (-o.probability, o.delivered_to or "", o.hosts)))
    return branches, outcomes, target.dns


_OUTCOME_REST = ("verdict", "delivered_to", "source_seen", "hosts", "packet_delivered", "reason")


def run_trace(network: Network, src: str, dst: str, port: int | None = None, protocol: str = "tcp",
              seed: int = 0, reply: bool = False, notes: tuple[str, ...] = ()) -> Trace:
    """One packet (and, with reply=True, its answer) from SRC to DST, with every outcome.

    Every branch of the rules' random choices is walked once (kplab.netfilter.enumerate_outcomes); the Trace shows
    the branch SeededChooser(seed) takes and carries all outcomes, merged by ending, most likely first."""
    branches, outcomes, dns = _walk_every_branch(network, src, dst, port, protocol, reply)
    rng, draws = random.Random(seed), []
    chosen = next(b for _, b in branches if _seed_takes(b[0], rng, draws))  # the seed's decisions are one of them
    _, pkt, walked, back = chosen
    return _as_trace(walked, pkt, src, dst, dns, back, outcomes, seed, notes + _policy_notes(network), network)


def _policy_notes(network: Network) -> tuple[str, ...]:
    """A sentence when NetworkPolicies exist that this network does not enforce (its CNI ignores them)."""
    from kplab.cni.enforcement import enforcement_note
    if network.policy:
        return ()
    note = enforcement_note(network.cluster, network.topology.cni)
    return (note,) if note else ()


def run_branches(network: Network, src: str, dst: str, port: int | None = None, protocol: str = "tcp",
                 reply: bool = False, notes: tuple[str, ...] = ()) -> tuple[tuple[Fraction, Trace], ...]:
    """Every branch of the walk as (probability, Trace), in the order the enumerator walks them (the rules'
    first choice first); each Trace carries all outcomes and no seed."""
    branches, outcomes, dns = _walk_every_branch(network, src, dst, port, protocol, reply)
    notes = notes + _policy_notes(network)
    return tuple((Fraction(p), _as_trace(walked, pkt, src, dst, dns, back, outcomes, None, notes, network))
                 for p, (_, pkt, walked, back) in branches)
