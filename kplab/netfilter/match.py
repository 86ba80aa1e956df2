"""Match modules (`-m NAME ...`): which options each accepts, and how each decides on a packet.

A Match is data (module name + canonical options); `compile_match` turns it once into a function of a
MatchContext, so a walk does not re-read option text. Stateful matches (statistic, recent) keep their state
in the Stack, not in the rule: the rule set stays immutable data that several hosts can share.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from kplab.netfilter.option import Option, OptionSpec, parse_mark
from kplab.netfilter.packet import Packet, ip_int, ip_version
from kplab.netfilter.probability import Probability

if TYPE_CHECKING:  # pragma: no cover
    from kplab.netfilter.stack import Stack


def _specs(*items: OptionSpec) -> tuple[OptionSpec, ...]:
    return items


S = OptionSpec
MATCH_SPECS: dict[str, tuple[OptionSpec, ...]] = {
    "comment": _specs(S("--comment", "text")),
    "tcp": _specs(S("--sport", "port", ("--source-port",)), S("--dport", "port", ("--destination-port",)),
                  S("--tcp-flags", "tcpflags", nargs=2), S("--syn", "flag")),
    "udp": _specs(S("--sport", "port", ("--source-port",)), S("--dport", "port", ("--destination-port",))),
    "sctp": _specs(S("--sport", "port", ("--source-port",)), S("--dport", "port", ("--destination-port",))),
    "icmp": _specs(S("--icmp-type", "str"),),
    "icmp6": _specs(S("--icmpv6-type", "str"),),
    "multiport": _specs(S("--sports", "ports", ("--source-ports",)), S("--dports", "ports", ("--destination-ports",)),
                        S("--ports", "ports")),
    "addrtype": _specs(S("--src-type", "addrtype"), S("--dst-type", "addrtype"),
                       S("--limit-iface-in", "flag"), S("--limit-iface-out", "flag")),
    "mark": _specs(S("--mark", "mark"),),
    "connmark": _specs(S("--mark", "mark"),),
    "conntrack": _specs(S("--ctstate", "states"), S("--ctproto", "str"), S("--ctorigsrc", "addr"),
                        S("--ctorigdst", "addr"), S("--ctreplsrc", "addr"), S("--ctrepldst", "addr"),
                        S("--ctorigsrcport", "port"), S("--ctorigdstport", "port"), S("--ctreplsrcport", "port"),
                        S("--ctrepldstport", "port"), S("--ctstatus", "ctstatus"),
                        S("--ctdir", "choice:ORIGINAL|REPLY")),
    "state": _specs(S("--state", "states"),),
    "statistic": _specs(S("--mode", "choice:random|nth"), S("--probability", "prob"), S("--every", "int"),
                        S("--packet", "int")),
    "recent": _specs(S("--rcheck", "flag"), S("--set", "flag"), S("--update", "flag"), S("--remove", "flag"),
                     S("--seconds", "int"), S("--reap", "flag"), S("--hitcount", "int"), S("--rttl", "flag"),
                     S("--name", "str"), S("--mask", "mask"), S("--rsource", "flag"), S("--rdest", "flag")),
    "set": _specs(S("--match-set", "setdir", nargs=2),),
    "nfacct": _specs(S("--nfacct-name", "str"),),
    "iprange": _specs(S("--src-range", "range"), S("--dst-range", "range")),
    # In the order libxt_physdev's save prints them.
    "physdev": _specs(S("--physdev-is-in", "flag"), S("--physdev-in", "iface"), S("--physdev-is-out", "flag"),
                      S("--physdev-out", "iface"), S("--physdev-is-bridged", "flag")),
}


def _words(*names: str, flags: tuple[str, ...] = ()) -> tuple[OptionSpec, ...]:
    """Options of an extension kplab reads and prints but evaluates from few of them: each value kept as written."""
    return tuple(S(n, "words") for n in names) + tuple(S(f, "flag") for f in flags)


# The rest of the match extensions iptables (1.8) ships, with every option iptables-save prints for them; what a
# walk can decide is decided (see _COMPILERS), the rest is a Dependency (dependency.py).
MATCH_SPECS.update({
    "pkttype": _specs(S("--pkt-type", "choice:unicast|broadcast|multicast|host|otherhost"),),
    "length": _specs(S("--length", "port"),),
    "ttl": _specs(S("--ttl-eq", "int"), S("--ttl-lt", "int"), S("--ttl-gt", "int")),
    "owner": _specs(S("--uid-owner", "str"), S("--gid-owner", "str"), S("--suppl-groups", "flag"),
                    S("--socket-exists", "flag")),
    "policy": _words("--dir", "--pol", "--reqid", "--spi", "--proto", "--mode", "--tunnel-src", "--tunnel-dst",
                     flags=("--strict", "--next")),
    "helper": _specs(S("--helper", "str"),),
    "tos": _specs(S("--tos", "str"),),
    "dscp": _specs(S("--dscp", "words"), S("--dscp-class", "str")),
    "ecn": _words("--ecn-ip-ect", flags=("--ecn-tcp-cwr", "--ecn-tcp-ece")),
    "rpfilter": _words(flags=("--loose", "--validmark", "--accept-local", "--invert")),
    "esp": _words("--espspi"),
    "ah": _words("--ahspi", "--ahlen", flags=("--ahres",)),
    "ipcomp": _words("--ipcompspi", flags=("--compres",)),
    "dccp": _words("--sport", "--dport", "--dccp-types", "--dccp-option"),
    "limit": _words("--limit", "--limit-burst"),
    "hashlimit": _words("--hashlimit-upto", "--hashlimit-above", "--hashlimit-burst", "--hashlimit-mode",
                        "--hashlimit-srcmask", "--hashlimit-dstmask", "--hashlimit-name", "--hashlimit-htable-size",
                        "--hashlimit-htable-max", "--hashlimit-htable-expire", "--hashlimit-htable-gcinterval",
                        "--hashlimit-rate-interval", "--hashlimit",
                        flags=("--hashlimit-rate-match",)),
    "connlimit": _words("--connlimit-upto", "--connlimit-above", "--connlimit-mask",
                        flags=("--connlimit-saddr", "--connlimit-daddr")),
    "connbytes": _words("--connbytes", "--connbytes-mode", "--connbytes-dir"),
    "connlabel": _words("--label", flags=("--set",)),
    "socket": _words(flags=("--transparent", "--nowildcard", "--restore-skmark")),
    "string": _words("--string", "--hex-string", "--algo", "--from", "--to", flags=("--icase",)),
    "u32": _words("--u32"),
    "bpf": _words("--bytecode", "--object-pinned"),
    "cgroup": _words("--path", "--cgroup"),
    "ipvs": _words("--vproto", "--vaddr", "--vport", "--vdir", "--vmethod", "--vportctl", flags=("--ipvs",)),
    "mac": _words("--mac-source"),
    "tcpmss": _words("--mss"),
    "time": _words("--timestart", "--timestop", "--monthdays", "--weekdays", "--datestart", "--datestop",
                   flags=("--contiguous", "--kerneltz", "--utc", "--localtz")),
    "quota": _words("--quota"),
    "rateest": _words("--rateest", "--rateest1", "--rateest2", "--rateest-bps", "--rateest-pps", "--rateest-bps1",
                      "--rateest-bps2", "--rateest-pps1", "--rateest-pps2",
                      flags=("--rateest-delta", "--rateest-lt", "--rateest-gt", "--rateest-eq")),
    "realm": _words("--realm"),
    "devgroup": _words("--src-group", "--dst-group"),
    "cpu": _words("--cpu"),
    "cluster": _words("--cluster-total-nodes", "--cluster-local-node", "--cluster-local-nodemask",
                      "--cluster-hash-seed"),
    "osf": _words("--genre", "--ttl", "--log"),
})
# What each state-dependent extension depends on (the words a Dependency names).
DEPENDS_ON = {
    "limit": "the rate limit's token bucket (packets matched recently)",
    "hashlimit": "the per-flow rate limit's token buckets (packets matched recently)",
    "connlimit": "how many connections the source already has open",
    "connbytes": "the connection's packet/byte counters",
    "connlabel": "the connection's labels",
    "socket": "whether a local socket matches the packet",
    "string": "the packet's payload",
    "u32": "bytes of the packet kplab does not model",
    "bpf": "a BPF program's verdict",
    "cgroup": "the sending process's cgroup",
    "ipvs": "the IPVS table (whether IPVS handled the packet)",
    "mac": "the sender's MAC address",
    "tcpmss": "the MSS option the client put in its SYN",
    "time": "the time of day the packet arrives",
    "quota": "the bytes counted so far",
    "rateest": "the measured traffic rates",
    "realm": "the routing realm of the route",
    "devgroup": "the interface groups of the devices",
    "cpu": "the CPU that handles the packet",
    "cluster": "the cluster hash of the packet",
    "osf": "the client's TCP fingerprint",
    "length": "the packet's length (kplab does not model payload sizes)",
    "ttl": "the packet's TTL (the sender's choice)",
    "owner": "which process sent the packet (its uid/gid)",
    "statistic": "a random draw",
}
# Protocols that load their match module implicitly with `-p` (`-p tcp --dport 80` needs no `-m tcp`).
IMPLICIT = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmp": "icmp", "icmpv6": "icmp6", "ipv6-icmp": "icmp6"}


@dataclass(frozen=True, slots=True)
class Match:
    name: str
    options: tuple[Option, ...]
    test: Callable[["MatchContext"], bool] | None = field(default=None, compare=False, repr=False)

    def text(self) -> str:
        return " ".join([f"-m {self.name}"] + [o.text() for o in self.options])

    def option(self, name: str) -> Option | None:
        for o in self.options:
            if o.name == name:
                return o
        return None


class MatchContext:
    """Everything a match may look at for one packet at one hook."""
    __slots__ = ("packet", "in_iface", "out_iface", "conn", "ctstate", "reply", "stack", "chooser", "rule",
                 "decisions", "physdev_in", "physdev_out", "hook", "table", "assumptions", "pending")

    def __init__(self, packet: Packet, in_iface: str, out_iface: str, conn: Any, ctstate: str, reply: bool,
                 stack: "Stack", chooser: Any, rule: Any = None, physdev_in: str | None = None,
                 physdev_out: str | None = None):
        self.packet = packet
        self.in_iface = in_iface
        self.out_iface = out_iface
        self.conn = conn
        self.ctstate = ctstate
        self.reply = reply
        self.stack = stack
        self.chooser = chooser
        self.rule = rule
        self.decisions: list[str] = []  # notes of stateful decisions (statistic, recent), for the step text
        # br_netfilter's view (-m physdev): the bridge port the packet came in by (None: it did not cross a
        # bridge, so the skb has no bridge info) and the port it leaves by (bridged traffic, FORWARD on).
        self.physdev_in = physdev_in
        self.physdev_out = physdev_out
        self.hook: str | None = None  # the built-in chain (hook) being walked, and its table
        self.table: str | None = None
        self.assumptions: list = []  # the walk's Assumptions (dependency.py), shared with the walk's state
        self.pending: tuple | None = None  # (chain name, rule number) the walk is testing, for an Assumption

    def depend(self, depends_on: str) -> bool:
        """A decision kplab cannot make from the packet: the chooser takes a branch and the walk records it."""
        from kplab.netfilter.dependency import Assumption, assume, without_effect
        if without_effect(self.rule):  # matching or not, the walk goes on the same: no branch
            self.decisions.append(f"depends on {depends_on}; either way the walk goes on the same")
            return True
        matched = assume(self.chooser, self.rule, depends_on)
        chain, number = self.pending or (getattr(self.rule, "chain", "?"), 0)
        self.assumptions.append(Assumption(self.table or "?", chain, number,
                                           getattr(self.rule, "display", ""), depends_on, matched))
        self.decisions.append(f"depends on {depends_on}: {'assumed to match' if matched else 'assumed not to match'}")
        return matched


def build_match(name: str, options: list[Option]) -> Match:
    """A checked, canonical, compiled Match from options in the order they were written (ValueError if bad)."""
    if name == "comment" and len(options) == 1:  # most distinct matches in a kube-proxy dump: nothing to check
        return Match(name, (options[0],), _always)
    validate(name, tuple(options))
    canon = canonical_order(name, options)
    return Match(name, canon, compile_match(name, canon))


def canonical_order(name: str, options: list[Option]) -> tuple[Option, ...]:
    """Options in the order iptables-save prints them, with the defaults it prints filled in."""
    specs = MATCH_SPECS[name]
    by_name = {o.name: o for o in options}
    if name == "recent":
        by_name.setdefault("--name", Option("--name", ("DEFAULT",)))
        by_name.setdefault("--mask", Option("--mask", ("255.255.255.255",)))
        if "--rdest" not in by_name:
            by_name.setdefault("--rsource", Option("--rsource"))
    if name == "statistic" and "--packet" in by_name and by_name["--packet"].values == ("0",):
        del by_name["--packet"]
    if name == "string":  # string_save leaves out the defaults
        for option, default in (("--from", "0"), ("--to", "65535")):
            if option in by_name and by_name[option].values == (default,):
                del by_name[option]
    if name == "hashlimit" and ("--hashlimit-upto" in by_name or "--hashlimit-above" in by_name):
        by_name.setdefault("--hashlimit-burst", Option("--hashlimit-burst", ("5",)))
    return tuple(by_name[s.name] for s in specs if s.name in by_name)


def validate(name: str, options: tuple[Option, ...]) -> None:
    """Refuse combinations iptables itself refuses (ValueError with the reason)."""
    have = {o.name for o in options}
    if name == "statistic":
        mode = next((o.values[0] for o in options if o.name == "--mode"), None)
        if mode is None:
            raise ValueError("statistic needs --mode")
        if mode == "random" and "--probability" not in have:
            raise ValueError("statistic --mode random needs --probability")
        if mode == "nth":
            every = next((int(o.values[0]) for o in options if o.name == "--every"), 0)
            if every < 1:
                raise ValueError("statistic --mode nth needs --every N (N >= 1)")
            packet = next((int(o.values[0]) for o in options if o.name == "--packet"), 0)
            if not 0 <= packet < every:
                raise ValueError("statistic --packet must be between 0 and --every - 1")
    if name == "recent":
        actions = have & {"--set", "--rcheck", "--update", "--remove"}
        if len(actions) > 1:
            raise ValueError("recent takes only one of --set, --rcheck, --update, --remove")
        if not actions:
            raise ValueError("recent needs one of --set, --rcheck, --update, --remove")
    if name == "physdev" and not have:
        raise ValueError("physdev needs at least one --physdev-* option")
    if name == "multiport" and len(have) > 1:
        raise ValueError("multiport takes only one of --sports, --dports, --ports")


def compile_match(name: str, options: tuple[Option, ...]) -> Callable[[MatchContext], bool]:
    tests = [_COMPILERS[name](o, options) for o in options]
    tests = [t for t in tests if t is not None]
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]

    def all_of(ctx: MatchContext) -> bool:
        for t in tests:
            if not t(ctx):
                return False
        return True
    return all_of


def _always(ctx: MatchContext) -> bool:
    return True


def _negate(option: Option, test: Callable[[MatchContext], bool]) -> Callable[[MatchContext], bool]:
    if not option.negated:
        return test
    return lambda ctx: not test(ctx)


def port_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(":")
    return int(lo), int(hi or lo)


def _ports_test(option: Option, field_name: str):
    lo, hi = port_range(option.values[0])
    if field_name == "sport":
        return _negate(option, lambda ctx: ctx.packet.sport is not None and lo <= ctx.packet.sport <= hi)
    return _negate(option, lambda ctx: ctx.packet.dport is not None and lo <= ctx.packet.dport <= hi)


def _proto_match(protocol: str):
    def compile_one(option: Option, _all):
        if option.name == "--sport":
            inner = _ports_test(option, "sport")
        elif option.name == "--dport":
            inner = _ports_test(option, "dport")
        elif option.name in ("--tcp-flags", "--syn"):
            if option.name == "--syn":
                mask, comp = {"SYN", "RST", "ACK", "FIN"}, {"SYN"}
            else:
                mask = set() if option.values[0] == "NONE" else set(option.values[0].split(","))
                comp = set() if option.values[1] == "NONE" else set(option.values[1].split(","))
            inner = _negate(option, lambda ctx: (ctx.packet.flags & mask) == comp)
        else:  # --icmp-type / --icmpv6-type
            wanted = option.values[0]
            inner = _negate(option, lambda ctx: wanted == "any" or ctx.packet.icmp_type == wanted)
        # A protocol match never matches another protocol's packet, even when negated.
        return lambda ctx: ctx.packet.protocol == protocol and inner(ctx)
    return compile_one


def _multiport(option: Option, _all):
    ranges = [port_range(p) for p in option.values[0].split(",")]

    def test(ctx: MatchContext) -> bool:
        p = ctx.packet
        if not p.has_ports:
            return False
        ports = {"--sports": (p.sport,), "--dports": (p.dport,), "--ports": (p.sport, p.dport)}[option.name]
        hit = any(lo <= port <= hi for port in ports if port is not None for lo, hi in ranges)
        return hit != option.negated
    return test


def _addrtype(option: Option, _all):
    if option.name.startswith("--limit-iface"):
        return None
    types = set(option.values[0].split(","))
    use_src = option.name == "--src-type"
    return _negate(option, lambda ctx: bool(ctx.stack.address_types(ctx.packet.src if use_src else ctx.packet.dst)
                                           & types))


def _mark(option: Option, _all):
    value, mask = parse_mark(option.values[0])
    return _negate(option, lambda ctx: (ctx.packet.mark & mask) == value)


def _connmark(option: Option, _all):
    value, mask = parse_mark(option.values[0])
    return _negate(option, lambda ctx: ctx.conn is not None and (ctx.conn.mark & mask) == value)


def _in_net(address: str | None, network: str) -> bool:
    if address is None:
        return False
    net = ipaddress.ip_network(network)
    return ip_version(address) == net.version and (ip_int(address) & int(net.netmask)) == int(net.network_address)


def _conntrack(option: Option, _all):
    name = option.name
    if name in ("--ctstate", "--state"):
        states = set(option.values[0].split(","))

        def state_test(ctx: MatchContext) -> bool:
            bits = {ctx.ctstate}
            if ctx.conn is not None:
                if ctx.conn.src_nat:
                    bits.add("SNAT")
                if ctx.conn.dst_nat:
                    bits.add("DNAT")
            return bool(bits & states)
        return _negate(option, state_test)

    def conn_test(ctx: MatchContext) -> bool:
        c = ctx.conn
        if c is None:
            return False
        o, r = c.original, c.reply
        if name == "--ctproto":
            return o.protocol == option.values[0].lower()
        if name in ("--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst"):
            address = {"--ctorigsrc": o.src, "--ctorigdst": o.dst, "--ctreplsrc": r.src, "--ctrepldst": r.dst}[name]
            return _in_net(address, option.values[0])
        if name.endswith("port"):
            lo, hi = port_range(option.values[0])
            port = {"--ctorigsrcport": o.sport, "--ctorigdstport": o.dport, "--ctreplsrcport": r.sport,
                    "--ctrepldstport": r.dport}[name]
            return port is not None and lo <= port <= hi
        if name == "--ctstatus":
            return bool(set(option.values[0].split(",")) & c.statuses())
        if name == "--ctdir":
            return (option.values[0] == "REPLY") == ctx.reply
        raise AssertionError(name)
    return _negate(option, conn_test)


def _statistic(option: Option, options: tuple[Option, ...]):
    if option.name != "--mode":
        return None
    negated = any(o.negated for o in options)
    if option.values[0] == "random":
        prob_opt = next(o for o in options if o.name == "--probability")
        probability = Probability.parse(prob_opt.values[0])
        notes = {hit: f"statistic: {'hit' if hit else 'miss'} (p={probability.intended})" for hit in (True, False)}

        def random_test(ctx: MatchContext) -> bool:
            hit = ctx.chooser.choose(probability, ctx.rule)
            ctx.decisions.append(notes[hit])
            return hit != negated
        return random_test
    every = int(next(o for o in options if o.name == "--every").values[0])
    packet = int(next((o.values[0] for o in options if o.name == "--packet"), "0"))

    def nth_test(ctx: MatchContext) -> bool:
        count = ctx.stack.next_nth_count(ctx.rule)
        hit = count % every == packet
        ctx.decisions.append(f"statistic nth: packet #{count} {'hit' if hit else 'miss'}")
        return hit != negated
    return nth_test


def _recent(option: Option, options: tuple[Option, ...]):
    if option.name not in ("--set", "--rcheck", "--update", "--remove"):
        return None
    values = {o.name: (o.values[0] if o.values else True) for o in options}
    negated = any(o.negated for o in options)
    spec = dict(action=option.name[2:], name=values["--name"], seconds=int(values.get("--seconds", 0)),
                hitcount=int(values.get("--hitcount", 0)), reap="--reap" in values, mask=values["--mask"],
                use_dst="--rdest" in values)

    def test(ctx: MatchContext) -> bool:
        hit, note = ctx.stack.recent.check(ctx.packet, ctx.stack.clock.now, **spec)
        ctx.decisions.append(note)
        return hit != negated
    return test


def _set(option: Option, _all):
    name, dirs = option.values
    directions = dirs.split(",")

    def test(ctx: MatchContext) -> bool:
        return ctx.stack.ipsets.contains(name, ctx.packet, directions)
    return _negate(option, test)


def _iprange(option: Option, _all):
    lo_text, hi_text = option.values[0].split("-")
    lo, hi = ip_int(lo_text), ip_int(hi_text)
    use_src = option.name == "--src-range"
    return _negate(option, lambda ctx: lo <= ip_int(ctx.packet.src if use_src else ctx.packet.dst) <= hi)


def _physdev(option: Option, _all):
    """xt_physdev, one option at a time (the kernel's physdev_mt tests its options one after another).

    Without bridge info (the packet did not come in through a bridge port, or br_netfilter is off) every
    option fails unless negated. With it: the is-* options test whether a port is known; --physdev-in compares
    the in port; --physdev-out never matches, negated or not, while the out port is unknown (PREROUTING,
    INPUT, routed traffic): physoutdev exists only for traffic the bridge forwards between two of its ports."""
    from kplab.netfilter.rule import iface_matches  # `veth+` wildcard, as for -i/-o (rule imports this module)
    name, negated = option.name, option.negated
    pattern = option.values[0] if option.values else ""

    def test(ctx: MatchContext) -> bool:
        indev, outdev = ctx.physdev_in, ctx.physdev_out
        if indev is None:  # !nf_bridge_info_exists(skb)
            return negated
        if name == "--physdev-is-in":
            return True != negated
        if name in ("--physdev-is-out", "--physdev-is-bridged"):
            return (outdev is not None) != negated
        if name == "--physdev-in":
            return iface_matches(pattern, indev) != negated
        if outdev is None:  # --physdev-out
            return False
        return iface_matches(pattern, outdev) != negated
    return test


def _depends(name: str):
    """A match whose result rests on state kplab does not have: one Dependency for the whole match."""
    def compile_one(option: Option, options: tuple[Option, ...]):
        if option is not options[0]:
            return None
        # The branch is about the match as written (its '!' included): "matches" or "does not match".
        what = " ".join([f"-m {name}"] + [o.text() for o in options]) + f" ({DEPENDS_ON[name]})"
        return lambda ctx: ctx.depend(what)
    return compile_one


def _pkttype(option: Option, _all):
    """xt_pkttype: the link-layer class of the packet; from the destination address (kplab models no MACs):
    a broadcast address -> broadcast, multicast -> multicast, otherwise unicast ("host")."""
    wanted = {"host": "unicast"}.get(option.values[0], option.values[0])

    def test(ctx: MatchContext) -> bool:
        types = ctx.stack.address_types(ctx.packet.dst)
        kind = "broadcast" if "BROADCAST" in types else "multicast" if "MULTICAST" in types else "unicast"
        return kind == wanted
    return _negate(option, test)


def _length(option: Option, _all):
    lo, hi = port_range(option.values[0])

    what = f"-m length {option.text()} ({DEPENDS_ON['length']})"

    def test(ctx: MatchContext) -> bool:
        if ctx.packet.length is None:
            return ctx.depend(what)
        return (lo <= ctx.packet.length <= hi) != option.negated
    return test


def _ttl(option: Option, _all):
    n = int(option.values[0])
    compare = {"--ttl-eq": lambda t: t == n, "--ttl-lt": lambda t: t < n, "--ttl-gt": lambda t: t > n}[option.name]

    what = f"-m ttl {option.text()} ({DEPENDS_ON['ttl']})"

    def test(ctx: MatchContext) -> bool:
        if ctx.packet.ttl is None:
            return ctx.depend(what)
        return compare(ctx.packet.ttl) != option.negated
    return test


def _owner(option: Option, options: tuple[Option, ...]):
    """xt_owner: the socket that sent the packet. Forwarded and received packets have none, and then the match
    holds exactly when every option is negated (owner_mt: `(match ^ invert) == 0`); a packet this host sends
    has one whose owner kplab does not know (a Dependency)."""
    if option is not options[0]:
        return None
    every_negated = all(o.negated or o.name == "--suppl-groups" for o in options)
    what = "-m owner " + " ".join(o.text() for o in options) + f" ({DEPENDS_ON['owner']})"

    def test(ctx: MatchContext) -> bool:
        if ctx.in_iface:  # came in from the network: no local socket (skb->sk is NULL)
            return every_negated
        return ctx.depend(what)
    return test


def _policy(option: Option, options: tuple[Option, ...]):
    """xt_policy: IPsec. kplab models no IPsec, so no packet has a policy: `--pol none` matches, `--pol ipsec`
    does not (policy_mt: no sec_path -> the NONE flag decides)."""
    if option is not options[0]:
        return None
    pol = next((o.values[0] for o in options if o.name == "--pol" and o.values), "ipsec")
    return lambda ctx: pol == "none"


def _helper(option: Option, _all):
    """xt_helper: kplab's connections have no conntrack helper (automatic helper assignment is off by default
    since Linux 4.7), so the match fails unless negated."""
    return lambda ctx: option.negated


def _tos(option: Option, _all):
    """-m tos/dscp: the packet's TOS byte; a socket's default (0) unless the Packet says otherwise."""
    value, _, mask = option.values[0].partition("/")
    named = {"Minimize-Delay": 0x10, "Maximize-Throughput": 0x08, "Maximize-Reliability": 0x04,
             "Minimize-Cost": 0x02, "Normal-Service": 0x00}
    v = named[value] if value in named else int(value, 0)
    m = int(mask, 0) if mask else (0x3F if value in named else 0xFF)
    return _negate(option, lambda ctx: (ctx.packet.tos & m) == v)


_DSCP_CLASSES = {**{f"CS{i}": i * 8 for i in range(8)}, "BE": 0, "EF": 46,
                 **{f"AF{c}{d}": c * 8 + d * 2 for c in range(1, 5) for d in range(1, 4)}}


def _dscp(option: Option, _all):
    if option.name == "--dscp-class":
        wanted = _DSCP_CLASSES.get(option.values[0].upper())
        if wanted is None:
            raise ValueError(f"unknown DSCP class {option.values[0]!r}")
    else:
        wanted = int(option.values[0], 0)
    return _negate(option, lambda ctx: ctx.packet.tos >> 2 == wanted)


def _ecn(option: Option, _all):
    if option.name == "--ecn-ip-ect":
        wanted = int(option.values[0]) if option.values else 0
        return _negate(option, lambda ctx: ctx.packet.tos & 0x3 == wanted)
    flag = "CWR" if option.name == "--ecn-tcp-cwr" else "ECE"
    return _negate(option, lambda ctx: ctx.packet.protocol == "tcp" and flag in ctx.packet.flags)


def _rpfilter(option: Option, options: tuple[Option, ...]):
    """xt_rpfilter: would a packet to the source go back out the interface this one came in by (any interface
    with --loose)? From lo always yes; a source this host owns only with --accept-local."""
    if option is not options[0]:
        return None
    names = {o.name for o in options}
    invert = "--invert" in names

    def test(ctx: MatchContext) -> bool:
        p = ctx.packet
        if not ctx.in_iface or ctx.in_iface == "lo":
            return not invert
        back = ctx.stack.route(p.replace(src=p.dst, dst=p.src))
        if back.failure:
            ok = False
        elif back.local:
            ok = "--accept-local" in names
        else:
            ok = "--loose" in names or back.out_iface == ctx.in_iface
        return ok != invert
    return test


def _other_protocol(protocol: str):
    def compile_one(option: Option, options: tuple[Option, ...]):
        if option is not options[0]:
            return None
        return lambda ctx: ctx.packet.protocol == protocol  # kplab's packets are tcp/udp/sctp/icmp: never
    return compile_one


def _nothing(option: Option, _all):
    return None  # comment, nfacct: always match (nfacct only counts)


_COMPILERS: dict[str, Callable[[Option, tuple[Option, ...]], Any]] = {
    "comment": _nothing, "nfacct": _nothing,
    "tcp": _proto_match("tcp"), "udp": _proto_match("udp"), "sctp": _proto_match("sctp"),
    "icmp": _proto_match("icmp"), "icmp6": _proto_match("icmpv6"),
    "multiport": _multiport, "addrtype": _addrtype, "mark": _mark, "connmark": _connmark,
    "conntrack": _conntrack, "state": _conntrack, "statistic": _statistic, "recent": _recent, "set": _set,
    "iprange": _iprange, "physdev": _physdev,
    "pkttype": _pkttype, "length": _length, "ttl": _ttl, "owner": _owner, "policy": _policy, "helper": _helper,
    "tos": _tos, "dscp": _dscp, "ecn": _ecn, "rpfilter": _rpfilter,
    "esp": _other_protocol("esp"), "ah": _other_protocol("ah"), "ipcomp": _other_protocol("ipcomp"),
    "dccp": _other_protocol("dccp"),
}
_COMPILERS.update({name: _depends(name) for name in
                   ("limit", "hashlimit", "connlimit", "connbytes", "connlabel", "socket", "string", "u32", "bpf",
                    "cgroup", "ipvs", "mac", "tcpmss", "time", "quota", "rateest", "realm", "devgroup", "cpu",
                    "cluster", "osf")})
