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
                 "decisions", "physdev_in", "physdev_out")

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

        def random_test(ctx: MatchContext) -> bool:
            hit = ctx.chooser.choose(probability, ctx.rule)
            ctx.decisions.append(f"statistic: {'hit' if hit else 'miss'} (p={probability.intended})")
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


def _nothing(option: Option, _all):
    return None  # comment, nfacct: always match (nfacct only counts)


_COMPILERS: dict[str, Callable[[Option, tuple[Option, ...]], Any]] = {
    "comment": _nothing, "nfacct": _nothing,
    "tcp": _proto_match("tcp"), "udp": _proto_match("udp"), "sctp": _proto_match("sctp"),
    "icmp": _proto_match("icmp"), "icmp6": _proto_match("icmpv6"),
    "multiport": _multiport, "addrtype": _addrtype, "mark": _mark, "connmark": _connmark,
    "conntrack": _conntrack, "state": _conntrack, "statistic": _statistic, "recent": _recent, "set": _set,
    "iprange": _iprange, "physdev": _physdev,
}
