"""One host's network stack: the netfilter hooks in the kernel's order, conntrack, NAT, recent lists.

The three paths (hook priorities from the kernel: raw -300, conntrack -200, mangle -150, nat DST -100,
filter 0, security 50, nat SRC 100, confirm last):

- arriving for this host (`receive`, route local): raw PREROUTING, conntrack, mangle PREROUTING,
  nat PREROUTING, routing, mangle INPUT, filter INPUT, security INPUT, nat INPUT, confirm;
- forwarded (`receive`, route not local): raw PREROUTING, conntrack, mangle PREROUTING, nat PREROUTING,
  routing, mangle FORWARD, filter FORWARD, security FORWARD, mangle POSTROUTING, nat POSTROUTING, confirm;
- locally generated (`send`): routing, raw OUTPUT, conntrack, mangle OUTPUT, nat OUTPUT, filter OUTPUT,
  security OUTPUT, re-routing, mangle POSTROUTING, nat POSTROUTING, confirm. A packet for one of the host's
  own addresses then comes back in through `lo` (raw, mangle and nat PREROUTING, mangle, filter, security and
  nat INPUT); it keeps its conntrack entry, as the kernel does for loopback, so nat chains are not run again.

nat chains run only for a connection's first packet, once per manip type (destination at PREROUTING/OUTPUT,
source at INPUT/POSTROUTING); otherwise conntrack rewrites the packet from the connection's tuples.
Routing is the caller's: `route(packet) -> Route`. A failed lookup (`Route.failed`) ends the walk at the
routing decision, as `ip_route_input` does before FORWARD (the kernel's ip_error then sends an ICMP
destination-unreachable back: `reject_error` builds it) and as `ip_route_output` does before OUTPUT (the
sender's `send` fails with ENETUNREACH/EHOSTUNREACH; no packet exists, so no hook sees it).

REJECT's answer (`reject_error`, `send_reject`) is a locally generated packet attached to the rejected packet's
connection in the opposite direction (the kernel's nf_ct_attach, ctstate RELATED); an ICMP error of a NATed
connection has its outer header and its quoted packet translated back (nf_nat_icmp_reply_translation).
"""
from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, field
from typing import Callable

from kplab.errors import KplabError
from kplab.netfilter.chooser import Chooser, SeededChooser
from kplab.netfilter.conntrack import ConntrackEntry, Conntrack, Tuple
from kplab.netfilter.dependency import Assumption
from kplab.netfilter.ipset import IPSets
from kplab.netfilter.match import MatchContext
from kplab.netfilter.packet import Packet, Route, ip_address, ip_text, ip_version, join_host_port
from kplab.netfilter.recent import RecentLists
from kplab.netfilter.rule import Rule
from kplab.netfilter.ruleset import Chain, Ruleset
from kplab.netfilter.target import PASSING, apply_xmark, nat_range

DST_HOOKS = ("PREROUTING", "OUTPUT")
# What makes a namespace track connections: a rule whose match or target needs conntrack (its checkentry calls
# nf_ct_netns_get). Since Linux 4.10 (commit 0c66dc1ea3f0, "netfilter: conntrack: register hooks in netns when
# needed by ruleset") conntrack's hooks are registered in a namespace only then, so a namespace whose rules use
# none of these (a pod's, usually) has no conntrack table at all. Not among them: a nat table or chain alone,
# and CT --notrack / NOTRACK (xt_ct_tg_check takes no reference for a notrack template). Checked in kpl-
# namespaces on Linux 6.18 with iptables-nft 1.8.9 (tests/lab/test_conntrack.py).
CONNTRACK_MATCHES = frozenset({"conntrack", "state", "connmark", "connlimit", "connbytes", "connlabel", "helper",
                               "cluster"})
CONNTRACK_TARGETS = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "CT", "CONNMARK", "CONNSECMARK",
                               "CLUSTERIP", "SYNPROXY"})


def uses_conntrack(ruleset: Ruleset) -> bool:
    """True when some rule needs conntrack in the namespace (CONNTRACK_MATCHES, CONNTRACK_TARGETS; CT with
    --notrack does not)."""
    return any((rule.target in CONNTRACK_TARGETS and not _notrack(rule))
               or any(m.name in CONNTRACK_MATCHES for m in rule.matches)
               for _, rule in ruleset.rules())


def _notrack(rule: Rule) -> bool:
    return rule.target == "CT" and any(o.name == "--notrack" for o in rule.target_options)
_REJECT_CODES = {"icmp-net-unreachable": 0, "icmp-host-unreachable": 1, "icmp-proto-unreachable": 2,
                 "icmp-port-unreachable": 3, "icmp-net-prohibited": 9, "icmp-host-prohibited": 10,
                 "icmp-admin-prohibited": 13}


@dataclass
class Clock:
    """Seconds since the stack was created; the caller advances it (conntrack timeouts, -m recent)."""
    now: float = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(slots=True)
class Decision:
    """One thing the kernel decided for the packet on this host: a rule matched (or a chain's policy or end), a
    conntrack state, a NAT rewrite, a routing decision; with the packet before and after it. The walk's Trace
    turns these into its Steps (kplab.walk.walker._steps_from)."""

    kind: str  # "rule", "policy", "fall-off", "conntrack", "route", "nat"
    table: str | None
    chain: str | None
    rule_number: int | None
    rule_text: str | None
    action: str  # "ACCEPT", "DROP", "REJECT", "RETURN", "jump X", "goto X", "DNAT", "MASQUERADE", "MARK", ...
    before: Packet
    after: Packet
    hook: str | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return self.action

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def __str__(self) -> str:
        where = f"{self.table} {self.chain}" if self.table else (self.hook or self.kind)
        if self.rule_number is not None:
            where += f" #{self.rule_number}"
        text = f"{where}: {self.action}"
        if self.note:
            text += f" ({self.note})"
        if self.changed:
            text += f"  [{self.before} => {self.after}]"
        return text


@dataclass
class Walk:
    steps: list[Decision]
    verdict: str  # ACCEPT, DROP, REJECT
    path: str  # input, forward, output
    original: Packet
    packet: Packet
    route: Route | None
    connection: ConntrackEntry | None
    ctstate: str
    reject_with: str | None = None
    in_iface: str | None = None
    out_iface: str | None = None
    reply_direction: bool = False  # the packet travelled in its connection's reply direction
    route_failure: str | None = None  # the routing decision failed (a key of ROUTE_FAILURES)
    assumptions: tuple[Assumption, ...] = ()  # state-dependent rules this outcome assumed (dependency.py)

    @property
    def dnat(self) -> str | None:
        """The translated destination `ip:port`, when a DNAT (rule or conntrack) changed it."""
        if (self.packet.dst, self.packet.dport) != (self.original.dst, self.original.dport):
            return join_host_port(self.packet.dst, self.packet.dport)
        return None

    @property
    def masqueraded(self) -> bool:
        """True when MASQUERADE or SNAT (by rule or by conntrack) changed the source."""
        return any(s.action in ("MASQUERADE", "SNAT") for s in self.steps) or \
            (self.packet.src, self.packet.sport) != (self.original.src, self.original.sport)

    @property
    def rule_steps(self) -> list[Decision]:
        return [s for s in self.steps if s.kind in ("rule", "policy", "fall-off")]

    def deciding_step(self) -> Decision | None:
        """The step that gave the final verdict (None if every table let the packet through by policy)."""
        for step in reversed(self.steps):
            if step.action in ("DROP", "REJECT") or (step.kind in ("rule", "policy") and step.action == "ACCEPT"):
                return step
        return None

    def __str__(self) -> str:
        lines = [f"{self.path} path: {self.original}"]
        lines += [f"  {s}" for s in self.steps]
        lines.append(f"verdict {self.verdict}: {self.packet}")
        return "\n".join(lines)


class _Verdict(Exception):
    pass


class _State:
    """The mutable state of one walk."""

    def __init__(self, packet: Packet, chooser: Chooser, in_iface: str | None, physdev_in: str | None = None):
        self.original = packet
        self.physdev_in = physdev_in  # the bridge port it came in by (br_netfilter), None if no bridge crossed
        self.physdev_out: str | None = None
        self.packet = packet
        self.steps: list[Decision] = []
        self.chooser = chooser
        self.in_iface = in_iface
        self.out_iface: str | None = None
        self.conn: ConntrackEntry | None = None
        self.reply = False
        self.ctstate = "UNTRACKED"
        self.untracked = False
        self.route: Route | None = None
        self.reject_with: str | None = None
        self.attached: tuple[ConntrackEntry, bool] | None = None  # nf_ct_attach: (connection, reply direction)
        self.assumptions: list[Assumption] = []  # state-dependent rules the walk branched on (dependency.py)


class Stack:
    def __init__(self, ruleset: Ruleset, local_ips: list[str] | tuple[str, ...] = (),
                 interfaces: dict[str, list[str]] | None = None,
                 route: Callable[[Packet], Route] | None = None, ipsets: IPSets | None = None,
                 ip_forward: bool = True, tcp_loose: bool = True, fast_path: bool = True,
                 route_localnet: bool = False, accept_local: bool = False,
                 select_address: Callable[[str | None, str, int], str | None] | None = None):
        self.ruleset = ruleset
        self.route_localnet = route_localnet  # net.ipv4.conf.*.route_localnet (martian check of 127/8 sources)
        self.accept_local = accept_local  # net.ipv4.conf.*.accept_local (martian check of own sources)
        # inet_select_addr(device, next hop, version) for MASQUERADE; default: the device's first address
        self.select_address = select_address
        self.interfaces = dict(interfaces or {})
        self.local_ips = {str(ipaddress.ip_address(a)) for a in local_ips}
        for addresses in self.interfaces.values():
            for a in addresses:
                self.local_ips.add(str(ipaddress.ip_interface(a).ip))
        self.route = route or self._default_route
        self.ipsets = ipsets or IPSets()
        self.ip_forward = ip_forward
        self.fast_path = fast_path
        self.conntrack = Conntrack(tcp_loose=tcp_loose)
        # without a rule that needs it the namespace has no conntrack: the stack still follows connections (as the
        # sockets do: an answer is told from a new packet) but shows no conntrack step
        self.tracks = uses_conntrack(ruleset)
        self.recent = RecentLists()
        self.clock = Clock()
        self.nth_counters: dict[int, int] = {}
        self._broadcasts = {str(ipaddress.ip_interface(a).network.broadcast_address)
                            for addrs in self.interfaces.values() for a in addrs
                            if ipaddress.ip_interface(a).version == 4 and ipaddress.ip_interface(a).network.prefixlen < 31}

    # ------------------------------------------------------------------ state
    def copy(self) -> "Stack":
        """This stack with its own state (conntrack, recent lists, clock, nth counters); the rules, addresses and
        route callback are shared, being read-only during a walk."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.conntrack = self.conntrack.copy()
        other.recent = self.recent.copy()
        other.clock = Clock(self.clock.now)
        other.nth_counters = dict(self.nth_counters)
        return other

    def next_nth_count(self, rule: Rule) -> int:
        count = self.nth_counters.get(id(rule), 0)
        self.nth_counters[id(rule)] = count + 1
        return count

    def is_local(self, address: str) -> bool:
        return "LOCAL" in self.address_types(address)

    def address_types(self, address: str) -> set[str]:
        """addrtype's view: the route type of the address in this host's routing tables."""
        ip, text = ip_address(address), ip_text(address)
        if text in self.local_ips or ip.is_loopback:
            return {"LOCAL"}
        if ip.is_unspecified:
            return {"UNSPEC"}
        if ip.is_multicast:
            return {"MULTICAST"}
        if text == "255.255.255.255" or text in self._broadcasts:
            return {"BROADCAST"}
        return {"UNICAST"}

    def inet_select_addr(self, iface: str | None, nexthop: str | None, version: int = 4) -> str | None:
        """The source MASQUERADE picks (nf_nat_masquerade_ipv4 -> inet_select_addr(out, nexthop, universe scope)):
        the out device's address whose subnet holds the next hop, else its first address; a device with no address
        (a Calico `cali*` veth, an unnumbered tunnel) borrows the first global address of another device, in device
        order, as the kernel does — it drops ("ate my IP address") only when no device has one."""
        first = None
        for a in self.interfaces.get(iface or "", []):
            addr = ipaddress.ip_interface(a)
            if addr.version != version or addr.ip.is_loopback:
                continue
            if nexthop is not None and ipaddress.ip_address(nexthop) in addr.network:
                return str(addr.ip)
            first = first or str(addr.ip)
        if first is not None:
            return first
        for addresses in self.interfaces.values():
            for a in addresses:
                ip = ipaddress.ip_interface(a).ip
                if ip.version == version and not ip.is_loopback and not ip.is_link_local:
                    return str(ip)
        return None

    def primary_address(self, iface: str | None, version: int = 4) -> str | None:
        for a in self.interfaces.get(iface or "", []):
            ip = ipaddress.ip_interface(a).ip
            if ip.version == version:
                return str(ip)
        if iface == "lo":
            return "127.0.0.1" if version == 4 else "::1"
        return None

    def _default_route(self, packet: Packet) -> Route:
        if self.is_local(packet.dst):
            return Route(local=True, out_iface="lo")
        version = ipaddress.ip_address(packet.dst).version
        for name, addresses in self.interfaces.items():
            for a in addresses:
                iface = ipaddress.ip_interface(a)
                if iface.version == version and iface.ip in iface.network and \
                        ipaddress.ip_address(packet.dst) in iface.network and name != "lo":
                    return Route(local=False, out_iface=name, src=str(iface.ip))
        default = next((n for n in self.interfaces if n != "lo"), "eth0")
        return Route(local=False, out_iface=default, src=self.primary_address(default, version))

    # ------------------------------------------------------------------ walks
    def receive(self, packet: Packet, in_iface: str, chooser: Chooser | None = None,
                physdev_in: str | None = None) -> Walk:
        """A packet arriving on `in_iface`: PREROUTING, then INPUT (for this host) or FORWARD and POSTROUTING.

        `physdev_in` is the bridge port it came in by when `in_iface` is a Linux bridge with br_netfilter
        (bridge-nf-call-iptables=1, as Kubernetes requires), e.g. a pod's veth on cni0; -m physdev reads it.
        None: the packet did not cross a bridge, so every non-negated physdev option fails. The out port is
        known only for bridged traffic: the route leaves by the same bridge and names `Route.physdev_out`;
        from FORWARD on. Without it --physdev-is-out/--physdev-is-bridged are false and --physdev-out fails."""
        st = _State(packet, chooser or SeededChooser(0), in_iface, physdev_in)
        path = "input"
        try:
            self._prerouting(st, track=True)
            st.route = self._route(st, "routing decision")
            if st.route.failure:
                path = "forward"
                raise _Verdict("DROP")
            if st.route.local:
                self._input(st)
            else:
                path = "forward"
                st.out_iface = st.route.out_iface
                if st.physdev_in is not None and st.route.out_iface == in_iface:
                    st.physdev_out = st.route.physdev_out  # bridged: br_nf_forward_ip sets physoutdev
                if not self.ip_forward:
                    # ip_route_input_slow: forwarding off on the in device fails the lookup with EHOSTUNREACH
                    st.route = Route.failed("unreachable")
                    self._step(st, "route", None, None, None, None, "DROP",
                               note="net.ipv4.ip_forward=0: the host does not forward, so routing fails "
                                    "(no route to host) and the packet is dropped before FORWARD, silently")
                    raise _Verdict("DROP")
                if st.packet.ttl is not None:  # ip_forward decrements the TTL before the FORWARD hook
                    st.packet = st.packet.replace(ttl=st.packet.ttl - 1)
                for table in ("mangle", "filter", "security"):
                    self._hook(st, table, "FORWARD")
                self._postrouting(st)
            verdict = "ACCEPT"
        except _Verdict as v:
            verdict = str(v)
        return self._finish(st, verdict, path)

    def send(self, packet: Packet, chooser: Chooser | None = None,
             attach: tuple[ConntrackEntry, bool] | None = None) -> Walk:
        """A packet this host generates: OUTPUT and POSTROUTING (then INPUT via lo when it is for this host).

        `attach` = (connection, reply direction) files the packet under that connection instead of looking it
        up, as the kernel's nf_ct_attach does for the errors REJECT sends (see `send_reject`)."""
        st = _State(packet, chooser or SeededChooser(0), None)
        st.attached = attach
        try:
            st.route = self._route(st, "routing decision")
            if st.route.failure:
                raise _Verdict("DROP")
            st.out_iface = st.route.out_iface or ("lo" if st.route.local else None)
            self._hook(st, "raw", "OUTPUT")
            self._track(st, "OUTPUT")
            # The kernel re-routes inside the OUTPUT hooks: mangle OUTPUT when it changed the addresses, mark or
            # TOS (ipt_mangle_out), nat OUTPUT when it changed the destination (nf_nat_ipv4_local_fn); a failed
            # ip_route_me_harder drops the packet right there. The new route takes the packet out (POSTROUTING's
            # -o), but every OUTPUT table still matches -o against the device of the first route: nf_hook() fixed
            # state->out once for the whole LOCAL_OUT hook (seen in the kernel lab: host -> ClusterIP -> a local
            # Calico pod is not `-o cali+` in filter OUTPUT).
            hook_out = st.out_iface
            before = st.packet
            self._hook(st, "mangle", "OUTPUT")
            if (st.packet.src, st.packet.dst, st.packet.mark, st.packet.tos) != \
                    (before.src, before.dst, before.mark, before.tos):
                self._reroute(st, "re-routing after mangle OUTPUT (address, mark or TOS changed)")
                st.out_iface = hook_out
            before = st.packet
            self._nat_hook(st, "OUTPUT")
            if st.packet.dst != before.dst:
                self._reroute(st, "re-routing after nat OUTPUT (destination changed)")
            st.out_iface = hook_out
            for table in ("filter", "security"):
                self._hook(st, table, "OUTPUT")
            st.out_iface = st.route.out_iface or ("lo" if st.route.local else None)
            self._postrouting(st)
            if st.route.local:
                st.in_iface = "lo"
                self._step(st, "route", None, None, None, None, "loopback", note="back in through lo")
                self._prerouting(st, track=False)
                self._input(st)
            verdict = "ACCEPT"
        except _Verdict as v:
            verdict = str(v)
        return self._finish(st, verdict, "output")

    def _reroute(self, st: _State, what: str) -> None:
        st.route = self._route(st, what)
        if st.route.failure:
            raise _Verdict("DROP")  # ip_route_me_harder fails: the OUTPUT hook drops the packet
        st.out_iface = st.route.out_iface or ("lo" if st.route.local else None)

    def reject_error(self, walk: Walk) -> Packet | None:
        """The packet REJECT sends back for a rejected walk (None when the kernel sends nothing).

        `--reject-with tcp-reset` (nf_send_reset): a TCP RST from the rejected packet's destination to its
        source, ports swapped; RST,ACK for a packet without ACK, and no answer to a RST or to non-TCP.
        Otherwise (icmp_send): ICMP destination-unreachable with the --reject-with code, quoting the rejected
        packet as it was when rejected (after any DNAT). Its source: for a packet addressed to this host, the
        address it was sent to; otherwise (forwarded or locally generated) the preferred source of the route
        back to the sender — the primary address of the interface the error leaves by, which is the
        kernel's choice with net.ipv4.icmp_errors_use_inbound_ifaddr=0 (the default).

        A received packet DROPped at a failed routing decision gets the kernel's ip_error answer instead: ICMP
        destination-unreachable with the failure's code (net-unreachable for no route, host-unreachable for an
        `unreachable` route), none for a blackhole route or when the host does not forward."""
        p = walk.packet
        if walk.verdict == "DROP" and walk.route_failure and walk.path != "output" and walk.in_iface is not None:
            # the kernel's ip_error answers a failed lookup, unless the in device does not forward (then silent)
            code = Route.failed(walk.route_failure).icmp_code
            if code is None or p.is_icmp_error or not self.ip_forward:
                return None
            back = self.route(Packet(p.dst, p.src, "icmp", icmp_type="destination-unreachable"))
            if back.failure:
                return None
            version = ipaddress.ip_address(p.src).version
            src = back.src or self.primary_address(back.out_iface, version) or self._any_address(version)
            return Packet(src, p.src, "icmp", tcp_flags="", icmp_type="destination-unreachable", icmp_code=code,
                          embedded=p)
        if walk.verdict != "REJECT":
            return None
        how = walk.reject_with or "icmp-port-unreachable"
        if how == "tcp-reset":
            if p.protocol != "tcp" or "RST" in p.flags:
                return None
            return Packet(p.dst, p.src, "tcp", p.dport, p.sport, tcp_flags="RST" if "ACK" in p.flags else "RST,ACK")
        if p.is_icmp_error:
            return None  # the kernel never answers an ICMP error with an error (RFC 1122)
        code = _REJECT_CODES.get(how, 3)
        if walk.route is not None and walk.route.local and walk.path == "input":
            src = p.dst
        else:
            back = self.route(Packet(p.dst, p.src, "icmp", icmp_type="destination-unreachable"))
            version = ipaddress.ip_address(p.src).version
            src = back.src or self.primary_address(back.out_iface, version) or \
                (p.src if self.is_local(p.src) else self._any_address(version))
        return Packet(src, p.src, "icmp", tcp_flags="", icmp_type="destination-unreachable", icmp_code=code,
                      embedded=p)

    def send_reject(self, walk: Walk, chooser: Chooser | None = None) -> Walk | None:
        """Send the error REJECT (or a failed routing decision) generates for `walk` (see `reject_error`), attached to the rejected packet's
        connection in the opposite direction (nf_ct_attach: ctstate RELATED); None when nothing is sent."""
        error = self.reject_error(walk)
        if error is None:
            return None
        attach = (walk.connection, not walk.reply_direction) if walk.connection is not None else None
        return self.send(error, chooser, attach=attach)

    def _any_address(self, version: int) -> str | None:
        """inet_select_addr's last resort: the first non-loopback address of any interface."""
        for name, addresses in self.interfaces.items():
            for a in addresses:
                ip = ipaddress.ip_interface(a).ip
                if name != "lo" and ip.version == version and not ip.is_loopback:
                    return str(ip)
        return None

    def _prerouting(self, st: _State, track: bool) -> None:
        self._hook(st, "raw", "PREROUTING")
        if track:
            self._track(st, "PREROUTING")
        self._hook(st, "mangle", "PREROUTING")
        self._nat_hook(st, "PREROUTING")

    def _input(self, st: _State) -> None:
        for table in ("mangle", "filter", "security"):
            self._hook(st, table, "INPUT")
        self._nat_hook(st, "INPUT")
        self._confirm(st)

    def _postrouting(self, st: _State) -> None:
        self._hook(st, "mangle", "POSTROUTING")
        self._nat_hook(st, "POSTROUTING")
        self._confirm(st)

    def _finish(self, st: _State, verdict: str, path: str) -> Walk:
        failure = st.route.failure if st.route is not None and verdict == "DROP" else None
        return Walk(st.steps, verdict, path, st.original, st.packet, st.route, st.conn, st.ctstate,
                    st.reject_with if verdict == "REJECT" else None, st.in_iface, st.out_iface, st.reply,
                    route_failure=failure, assumptions=tuple(st.assumptions))

    def martian(self, packet: Packet, in_iface: str | None) -> str | None:
        """Why the kernel's input routing (ip_route_input_slow, fib_validate_source) drops a packet received on
        `in_iface` as a martian source, or None. Packets coming back in through lo are never martians."""
        if in_iface is None or in_iface == "lo":
            return None
        src, text = ip_address(packet.src), ip_text(packet.src)
        if src.is_loopback and not (src.version == 4 and self.route_localnet):
            return f"source {src} is a loopback address arriving on {in_iface}"
        if src.is_multicast or text == "255.255.255.255" or src.is_unspecified:
            return f"source {src} cannot be a sender"
        if text in self.local_ips and not self.accept_local:
            return (f"source {src} is an address of this host arriving on {in_iface} "
                    f"(net.ipv4.conf.*.accept_local=0)")
        return None

    def _route(self, st: _State, what: str) -> Route:
        why = self.martian(st.packet, st.in_iface) if what == "routing decision" else None
        route = Route.failed("martian source", why) if why else self.route(st.packet)
        if route.failure:
            if st.in_iface is None and what != "routing decision":
                after = ("ip_route_me_harder fails inside the OUTPUT hook: the packet is dropped; the socket is "
                         "not told, so TCP retransmits and then times out")
            elif st.in_iface is None:
                after = f"send() fails with {route.errno} before OUTPUT: no packet leaves"
            else:
                code = route.icmp_code if self.ip_forward else None
                after = "dropped before " + ("FORWARD/INPUT" if what == "routing decision" else "POSTROUTING") + \
                    ("; the kernel sends no error" + (" (blackhole)" if self.ip_forward else " (ip_forward=0)")
                     if code is None else
                     f"; the kernel answers the source with ICMP destination-unreachable code {code}")
            self._step(st, "route", None, None, None, None, "DROP",
                       note=f"{what}: {route.failure_text()}" + (f" ({route.note})" if route.note else "") +
                            f"; {after}")
            return route
        where = "local delivery" if route.local else f"out {route.out_iface}" + (
            f" via {route.gateway}" if route.gateway else "") + (f"; {route.note}" if route.note else "")
        # the kernel's terms: a packet this host sends itself (no input interface) takes the output route
        # (ip_route_output_key: on to OUTPUT, POSTROUTING); one that arrived is forwarded (ip_forward)
        self._step(st, "route", None, None, None, None,
                   "local" if route.local else "output" if st.in_iface is None else "forward", note=f"{what}: {where}")
        return route

    def _step(self, st: _State, kind: str, table: str | None, chain: str | None, number: int | None,
              text: str | None, action: str, before: Packet | None = None, note: str = "",
              hook: str | None = None) -> None:
        if kind == "conntrack" and not self.tracks:
            return
        st.steps.append(Decision(kind, table, chain, number, text, action, before or st.packet, st.packet, hook, note))

    # ------------------------------------------------------------------ conntrack
    def _track(self, st: _State, hook: str) -> None:
        if st.untracked:
            st.ctstate = "UNTRACKED"
            self._step(st, "conntrack", None, None, None, None, "UNTRACKED", hook=hook, note="NOTRACK in raw")
            return
        if st.attached is not None:
            st.conn, st.reply = st.attached
            st.ctstate = "RELATED"
            self._step(st, "conntrack", None, None, None, None, "RELATED", hook=hook,
                       note="attached to the connection of the packet it answers (nf_ct_attach), "
                            + ("reply" if st.reply else "original") + " direction")
            return
        conn, reply, state, note = self.conntrack.track(st.packet, self.clock.now)
        st.conn, st.reply, st.ctstate = conn, reply, state
        self._step(st, "conntrack", None, None, None, None, state, hook=hook, note=note)
        if state == "INVALID":
            st.conn = None

    def _confirm(self, st: _State) -> None:
        # Only a connection's own first packet confirms it: an error about an unconfirmed (rejected) connection
        # travels in the reply direction, which the kernel's confirm skips, so the connection dies with it.
        if st.conn is not None and not st.conn.confirmed and st.ctstate != "RELATED":
            self.conntrack.confirm(st.conn, self.clock.now)
            self._step(st, "conntrack", None, None, None, None, "confirm", note=st.conn.text(self.clock.now))

    def _translate(self, st: _State, hook: str) -> None:
        """Conntrack's NAT for packets whose NAT is already decided: make the packet fit the other direction's
        tuple (destination at PREROUTING/OUTPUT, source at INPUT/POSTROUTING)."""
        conn = st.conn
        if conn is None:
            return
        # The packet must look like the other direction's tuple inverted: its destination is that tuple's
        # source, its source that tuple's destination. Most packets already do (no NAT): then nothing is made.
        other = conn.original if st.reply else conn.reply
        p = st.packet
        ports = p.has_ports
        if hook in DST_HOOKS:
            dst, dport = other.src, other.sport if ports else p.dport
            if dst == p.dst and dport == p.dport:
                return
            new = p.replace(dst=dst, dport=dport)
        else:
            src, sport = other.dst, other.dport if ports else p.sport
            if src == p.src and sport == p.sport:
                return
            new = p.replace(src=src, sport=sport)
        st.packet = new
        which = "destination" if hook in DST_HOOKS else "source"
        self._step(st, "nat", None, None, None, None, "conntrack NAT", before=p, hook=hook,
                   note=f"{which} rewritten from the connection's tuples (nat chains not run)")

    # ------------------------------------------------------------------ tables
    def _translate_icmp_error(self, st: _State, hook: str) -> None:
        """NAT for an ICMP error of a NATed connection (the kernel's nf_nat_icmp_reply_translation).

        At a hook doing manip M (destination at PREROUTING/OUTPUT, source at INPUT/POSTROUTING), when the
        connection was NATed the way M must undo for this direction, the quoted packet gets the opposite manip
        from the tuple of its own direction, and the outer header is made to look like an answer to it."""
        conn, p = st.conn, st.packet
        manip_src = hook not in DST_HOOKS
        undo_src = manip_src != st.reply  # the status bit this manip serves: SNAT, flipped in reply direction
        if not (conn.src_nat if undo_src else conn.dst_nat):
            return
        own = conn.original if st.reply else conn.reply  # the tuple of the quoted packet's direction
        inner = p.embedded
        if manip_src:
            new_inner = inner.replace(dst=own.dst, dport=own.dport if inner.has_ports else inner.dport)
            new = p.replace(src=own.dst, embedded=new_inner)
        else:
            new_inner = inner.replace(src=own.src, sport=own.sport if inner.has_ports else inner.sport)
            new = p.replace(dst=own.src, embedded=new_inner)
        if new != p:
            st.packet = new
            self._step(st, "nat", None, None, None, None, "conntrack NAT", before=p, hook=hook,
                       note="ICMP error of a NATed connection: outer header and quoted packet translated back")

    def _nat_hook(self, st: _State, hook: str) -> None:
        conn = st.conn
        if conn is not None and st.ctstate == "RELATED" and st.packet.is_icmp_error:
            self._translate_icmp_error(st, hook)
            return
        dst_manip = hook in DST_HOOKS
        done = conn is not None and (conn.nat_done_dst if dst_manip else conn.nat_done_src)
        if conn is not None and not st.reply and st.ctstate == "NEW" and not done:
            self._hook(st, "nat", hook)
            if dst_manip:
                conn.nat_done_dst = True
            else:
                conn.nat_done_src = True
        self._translate(st, hook)

    def _hook(self, st: _State, table_name: str, hook: str) -> None:
        table = self.ruleset.tables.get(table_name)
        if table is None:
            return
        chain = table.chains.get(hook)
        if chain is None or (not chain.rules and chain.policy == "ACCEPT"):
            return
        verdict = self._run_chain(st, table_name, chain, hook)
        if verdict in ("DROP", "REJECT"):
            raise _Verdict(verdict)

    def _run_chain(self, st: _State, table_name: str, start: Chain, hook: str) -> str:
        table = self.ruleset.tables[table_name]
        ctx = MatchContext(st.packet, st.in_iface or "", st.out_iface or "", st.conn, st.ctstate, st.reply,
                           self, st.chooser, physdev_in=st.physdev_in, physdev_out=st.physdev_out)
        ctx.hook, ctx.table, ctx.assumptions = hook, table_name, st.assumptions
        frames: list[tuple[Chain, list[int], int]] = []
        chain = start
        cands = self._candidates(chain, st.packet.dst)
        k = 0
        while True:
            if k >= len(cands):
                if chain.policy is not None:  # a built-in chain (Chain.builtin, inlined: the walk's hot loop)
                    self._step(st, "policy", table_name, chain.name, None, None, chain.policy, hook=hook)
                    return chain.policy
                self._step(st, "fall-off", table_name, chain.name, None, None, "RETURN", hook=hook,
                           note="end of chain: back to the calling chain")
                if not frames:  # reached by -g from the built-in chain: its policy decides (the kernel's underflow)
                    self._step(st, "policy", table_name, start.name, None, None, start.policy, hook=hook)
                    return start.policy
                chain, cands, k = frames.pop()
                continue
            i = cands[k]
            k += 1
            rule = chain.rules[i]
            ctx.packet = st.packet
            ctx.conn = st.conn
            if ctx.decisions:  # notes of the previous rule's stateful matches (statistic, recent)
                ctx.decisions.clear()
            ctx.pending = (chain.name, i + 1)
            if not rule.matches_packet(ctx):
                continue
            note = "; ".join(ctx.decisions)
            target = rule.target
            number = i + 1
            if target is None:
                self._step(st, "rule", table_name, chain.name, number, rule.display, "continue", hook=hook,
                           note=note or "no target: counters only")
                continue
            if rule.jumps_to_chain:
                nxt = table.chains.get(target)
                if nxt is None:
                    raise KplabError(f"{self.ruleset.source}:{rule.line}: chain {target} does not exist")
                self._step(st, "rule", table_name, chain.name, number, rule.display,
                           ("goto " if rule.goto else "jump ") + target, hook=hook, note=note)
                if not rule.goto:
                    frames.append((chain, cands, k))
                chain, cands, k = nxt, self._candidates(nxt, st.packet.dst), 0
                continue
            if target == "RETURN":
                self._step(st, "rule", table_name, chain.name, number, rule.display, "RETURN", hook=hook, note=note)
                if not frames:
                    self._step(st, "policy", table_name, start.name, None, None, start.policy, hook=hook,
                               note="RETURN from a built-in chain: the policy decides")
                    return start.policy
                chain, cands, k = frames.pop()
                continue
            result = self._target(st, table_name, chain, number, rule, hook, note)
            if result is not None:
                return result

    def _candidates(self, chain: Chain, dst: str) -> list[int]:
        if not self.fast_path:
            return list(range(len(chain.rules)))
        index = chain.index()
        if index.linear:
            return index.generic
        return index.candidates(dst)

    def _target(self, st: _State, table: str, chain: Chain, number: int, rule: Rule, hook: str,
                note: str) -> str | None:
        """Apply a built-in target. Returns the verdict for terminating targets, None to continue."""
        target = rule.target
        opts = {o.name: o for o in rule.target_options}
        before = st.packet

        def step(action: str, extra: str = "") -> None:
            self._step(st, "rule", table, chain.name, number, rule.display, action, before=before, hook=hook,
                       note="; ".join(x for x in (note, extra) if x))

        if target in ("ACCEPT", "DROP"):
            step(target)
            return target
        if target == "REJECT":
            st.reject_with = opts["--reject-with"].values[0]
            step("REJECT", f"--reject-with {st.reject_with}")
            return "REJECT"
        if target == "MARK":
            st.packet = st.packet.replace(mark=apply_xmark(st.packet.mark, opts["--set-xmark"]))
            step("MARK", f"mark {before.mark:#x} -> {st.packet.mark:#x}")
            return None
        if target == "CONNMARK":
            return self._connmark(st, opts, step)
        if target in ("LOG", "NFLOG", "TRACE"):
            prefix = opts.get("--log-prefix") or opts.get("--nflog-prefix")
            step(target, f"logged{' with prefix ' + repr(prefix.values[0]) if prefix else ''}; continues")
            return None
        if target in ("NOTRACK", "CT"):
            if target == "NOTRACK" or "--notrack" in opts:
                if table != "raw":
                    raise KplabError(f"{self.ruleset.source}:{rule.line}: {target} only works in the raw table")
                st.untracked = True
                step(target, "packet will not be tracked")
            else:
                step(target, "conntrack template (helper/zone/events/timeout): no effect on this verdict; continues")
            return None
        if target in ("DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"):
            return self._nat_target(st, table, target, opts, rule, hook, step)
        if target in PASSING:
            return self._passing_target(st, target, opts, step)
        return self._handed_over(st, table, chain, number, rule, target, opts, step)

    def _passing_target(self, st: _State, target: str, opts: dict, step) -> None:
        """Targets that rewrite what kplab does not model (checksums, TOS/DSCP, MSS, classes, security
        contexts), log, or copy the packet: the packet goes on to the next rule with its verdict unchanged."""
        what = {"CHECKSUM": "fills in the UDP/TCP checksum", "CLASSIFY": "sets the traffic-control class",
                "DSCP": "rewrites the DSCP bits", "TOS": "rewrites the TOS byte", "ECN": "clears ECN bits",
                "TTL": "changes the TTL", "TCPMSS": "rewrites the SYN's MSS option",
                "TCPOPTSTRIP": "strips TCP options", "AUDIT": "writes an audit record", "IDLETIMER":
                "restarts an idle timer", "LED": "blinks an LED", "RATEEST": "feeds a rate estimator",
                "SECMARK": "sets the security mark", "CONNSECMARK": "copies the security mark",
                "TEE": "sends a copy to another gateway", "ULOG": "logs", "SET":
                "adds/removes the packet's addresses in an ipset (kplab's sets are not changed)",
                "HMARK": "sets the packet mark from a hash (kplab leaves the mark unchanged)"}[target]
        if target == "TTL" and st.packet.ttl is not None:
            (name, option), = ((o.name, o) for o in opts.values())
            n = int(option.values[0])
            ttl = {"--ttl-set": n, "--ttl-dec": st.packet.ttl - n, "--ttl-inc": st.packet.ttl + n}[name]
            st.packet = st.packet.replace(ttl=max(0, min(255, ttl)))
        if target in ("DSCP", "TOS"):
            what += " (kplab keeps the packet's TOS)"
        step(target, f"{what}; continues, verdict unchanged")
        return None

    def _handed_over(self, st: _State, table: str, chain: Chain, number: int, rule: Rule, target: str, opts: dict,
                     step) -> str:
        """Terminating targets whose verdict comes from outside the rules: a userspace queue (NFQUEUE), a
        transparent-proxy socket (TPROXY), the SYN proxy, a CLUSTERIP peer. The walk branches (dependency.py)."""
        if target == "SYNPROXY":
            if st.packet.protocol == "tcp" and st.packet.flags == {"SYN"}:
                step("DROP", "SYNPROXY answers the SYN itself (SYN-ACK with a SYN cookie) and drops it; the "
                             "connection goes on when the client's ACK passes the cookie check")
            else:
                step("DROP", "SYNPROXY: not a SYN of a new connection; dropped")
            return "DROP"
        queue = " ".join(o.text() for o in opts.values())
        depends = {"NFQUEUE": f"the verdict of the userspace program reading -j NFQUEUE {queue}".rstrip() +
                              (" (none listening: the packet goes on)" if "--queue-bypass" in opts else
                               " (none listening: dropped)"),
                   "TPROXY": "whether a transparent socket listens on the TPROXY port (none: dropped)",
                   "CLUSTERIP": "whether this node is the cluster node the CLUSTERIP hash picks"}[target]
        from kplab.netfilter.dependency import Assumption, assume
        accepted = assume(st.chooser, rule, depends)
        st.assumptions.append(Assumption(table, chain.name, number, rule.display, depends, accepted))
        verdict = "ACCEPT" if accepted else "DROP"
        step(verdict, f"depends on {depends}: assumed {verdict}")
        return verdict

    def _connmark(self, st: _State, opts: dict, step) -> None:
        conn = st.conn
        if "--set-xmark" in opts:
            if conn is not None:
                conn.mark = apply_xmark(conn.mark, opts["--set-xmark"])
            step("CONNMARK", f"connection mark {conn.mark:#x}" if conn else "no connection")
            return None
        nfmask = int(opts["--nfmask"].values[0], 0)
        ctmask = int(opts["--ctmask"].values[0], 0)
        if conn is None:
            step("CONNMARK", "no connection")
        elif "--save-mark" in opts:
            conn.mark = (conn.mark & ~ctmask) ^ (st.packet.mark & nfmask)
            step("CONNMARK", f"saved packet mark into connection: {conn.mark:#x}")
        else:
            st.packet = st.packet.replace(mark=((st.packet.mark & ~nfmask) ^ (conn.mark & ctmask)) & 0xFFFFFFFF)
            step("CONNMARK", f"restored connection mark to packet: {st.packet.mark:#x}")
        return None

    def _nat_target(self, st: _State, table: str, target: str, opts: dict, rule: Rule, hook: str, step) -> str:
        where = f"{self.ruleset.source}:{rule.line}"
        if table != "nat":
            raise KplabError(f"{where}: {target} is only valid in the nat table")
        conn = st.conn
        if conn is None:
            raise KplabError(f"{where}: {target} reached without a connection")
        p = st.packet
        version = ip_version(p.dst)
        if target == "NETMAP":  # 1:1 prefix mapping: the host bits kept, the network bits from --to
            net = ipaddress.ip_network(opts["--to"].values[0])
            mask, prefix = int(net.netmask), int(net.network_address)
            dst_side = hook in DST_HOOKS
            old_ip = ipaddress.ip_address(p.dst if dst_side else p.src)
            new_ip = str(ipaddress.ip_address((int(old_ip) & ~mask & (2 ** old_ip.max_prefixlen - 1)) | prefix))
            if dst_side:
                new = p.replace(dst=new_ip)
                conn.reply = Tuple(conn.reply.protocol, new.dst, conn.reply.dst, conn.reply.sport, conn.reply.dport)
                conn.dst_nat = conn.dst_nat or new != p
            else:
                new = p.replace(src=new_ip)
                conn.reply = Tuple(conn.reply.protocol, conn.reply.src, new.src, conn.reply.sport, conn.reply.dport)
                conn.src_nat = conn.src_nat or new != p
            st.packet = new
            step(target, f"{'destination' if dst_side else 'source'} {old_ip} -> {new_ip}")
            return "ACCEPT"
        if target in ("DNAT", "REDIRECT"):
            if hook not in DST_HOOKS:
                raise KplabError(f"{where}: {target} is only valid in PREROUTING and OUTPUT (reached from {hook})")
            if target == "DNAT":
                nat = nat_range(opts["--to-destination"].values[0])
                new_ip = nat.first_ip or p.dst
                new_port = nat.first_port if nat.first_port is not None else p.dport
            else:
                new_ip = "127.0.0.1" if hook == "OUTPUT" and version == 4 else (
                    "::1" if hook == "OUTPUT" else self.primary_address(st.in_iface, version))
                if new_ip is None:
                    step("DROP", f"REDIRECT: {st.in_iface} has no address")
                    return "DROP"
                ports = opts.get("--to-ports")
                new_port = int(ports.values[0].split("-")[0]) if ports else p.dport
            new = p.replace(dst=new_ip, dport=new_port if p.has_ports else p.dport)
            conn.reply = Tuple(conn.reply.protocol, new.dst, conn.reply.dst,
                               new.dport if p.has_ports else None, conn.reply.dport)
            if new != p:
                conn.dst_nat = True
            st.packet = new
            step(target, f"to {join_host_port(new.dst, new.dport)}")
            return "ACCEPT"
        if hook in DST_HOOKS:
            raise KplabError(f"{where}: {target} is only valid in POSTROUTING and INPUT (reached from {hook})")
        extra = ""
        if target == "SNAT":
            nat = nat_range(opts["--to-source"].values[0])
            new_ip = nat.first_ip or p.src
            port_range = (nat.first_port, nat.last_port) if nat.first_port is not None else None
        else:
            nexthop = (st.route.gateway if st.route is not None else None) or p.dst
            new_ip = self.select_address(st.out_iface, nexthop, version) if self.select_address is not None \
                else self.inet_select_addr(st.out_iface, nexthop, version)
            if new_ip is None:
                step("DROP", f"MASQUERADE: {st.out_iface} has no {'IPv6' if version == 6 else 'IPv4'} address")
                return "DROP"
            ports = opts.get("--to-ports")
            port_range = tuple(int(x) for x in (ports.values[0].split("-") * 2)[:2]) if ports else None
            extra = f"source = {st.out_iface}'s address for next hop {nexthop} (inet_select_addr)"
        if "--random-fully" in opts:
            extra += "; --random-fully: the kernel would pick a random source port, kplab keeps it unless it clashes"
        new_port = self._free_port(conn, new_ip, p, port_range)
        new = p.replace(src=new_ip, sport=new_port if p.has_ports else p.sport)
        conn.reply = Tuple(conn.reply.protocol, conn.reply.src, new.src, conn.reply.sport,
                           new.sport if p.has_ports else None)
        if new != p:
            conn.src_nat = True
        st.packet = new
        step(target, "; ".join(x for x in (f"from {join_host_port(new.src, new.sport)}", extra) if x))
        return "ACCEPT"

    def _free_port(self, conn: ConntrackEntry, new_ip: str, p: Packet, port_range: tuple | None) -> int | None:
        """Keep the source port unless another connection already owns the resulting reply tuple (the kernel's
        nf_nat_used_tuple check), then take the next free one in the range (1024-65535 by default)."""
        if not p.has_ports:
            return p.sport
        lo, hi = port_range if port_range else (1024, 65535)
        first = p.sport if (port_range is None or lo <= (p.sport or 0) <= hi) else lo
        for port in itertools.chain([first], (x for x in range(lo, hi + 1) if x != first)):
            reply = Tuple(conn.reply.protocol, conn.reply.src, new_ip, conn.reply.sport, port)
            if not self.conntrack.tuple_taken(reply, conn):
                return port
        return first
