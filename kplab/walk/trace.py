"""The Trace contract: Trace -> Hop -> Step, with typed step details, Outcome and FlowDiff.

Every view (text, HTML, the animated player, the widget explorer) and the kernel lab read these objects, or their
JSON form; nothing else. All of them are frozen dataclasses holding tuples, so a trace is a value: equal traces
compare equal, and `Trace.from_dict(t.to_dict()) == t` for every trace.

What each part is
    Trace    one packet's walk from a source to a destination, how it ended, every possible outcome, and
             (optionally) the walk of the answer or of the error a REJECT sent back.
    Hop      the packet on one host (a pod's network namespace, a node, the router, the load balancer, an
             outside host): the interfaces it came in and left by, and the steps that decided its way there.
    Step     one decision: a route lookup, a netfilter rule (or a chain's policy), a NAT rewrite, conntrack, a
             NetworkPolicy rule, DNS, tunnel encapsulation, the link it arrived on, delivery, drop or reject.
             `detail` is a typed record for its kind (RouteDetail ... DropDetail below); `diff` is what the step
             changed in the packet (a FlowDiff; empty for most steps).
    Flow     a packet's header at one point: addresses, ports, protocol, TCP flags, skb mark, ICMP type/code
             and, for an ICMP error, the header it quotes.
    FlowDiff the header fields a step changed, each with its value before and after.
    Outcome  one possible ending with its exact probability (a Fraction). Outcomes are computed during the walk
             by enumerating every random choice the rules can make (`-m statistic`, multipath next hops): the
             probabilities of a trace's outcomes sum to 1. The walk shown in the hops is the one the seed chose.

Units: ports are integers (None where the protocol has none), marks are integers (the 32-bit skb mark),
probabilities are exact Fractions (in JSON a string "1/3"), addresses are strings as `ip` prints them.

JSON (`to_dict()`; the schema is kplab/walk/trace.schema.json, draft 2020-12)
    Trace:   {"version": 1, "source": str, "destination": str, "seed": int|null, "notes": [str],
              "origin": "kernel" (only in a trace the Linux kernel reported; absent means "kplab"),
              "packet": Flow, "dns": [Step], "hops": [Hop],
              "verdict": "ACCEPT"|"DROP"|"REJECT", "delivered_to": str|null, "source_seen": "ip:port"|"ip"|null,
              "packet_delivered": Flow|null, "reason": str,
              "outcomes": [Outcome], "reply": Trace|null}
    Hop:     {"host": str, "host_kind": "pod"|"node"|"router"|"load-balancer"|"outside",
              "in_iface": str|null, "out_iface": str|null, "path": "input"|"forward"|"output"|null,
              "packet_in": Flow, "packet_out": Flow|null, "steps": [Step]}
    Step:    {"kind": one of STEP_KINDS, "action": str, "text": str, "note": str, "diff": FlowDiff,
              "detail": {fields of the kind's detail, below}}
    Flow:    {"src": str, "dst": str, "protocol": "tcp"|"udp"|"sctp"|"icmp"|"icmpv6", "sport": int|null,
              "dport": int|null, "tcp_flags": str, "mark": int, "icmp_type": str|null, "icmp_code": int|null,
              "embedded": Flow|null}
    FlowDiff: [{"field": str, "before": value, "after": value}]   (value: str, int, null, or Flow for "embedded")
    Outcome: {"probability": "p/q", "verdict": str, "delivered_to": str|null, "source_seen": str|null,
              "hosts": [str], "packet_delivered": Flow|null, "reason": str}
    details by step kind:
      route          {"route": str, "out_iface": str|null, "next_hop": str|null}
      rule           {"table": str, "chain": str, "hook": str|null, "rule_number": int|null, "rule": str,
                      "verdict": str}
      nat            {"table": str|null, "chain": str|null, "hook": str|null, "rule_number": int|null,
                      "rule": str, "target": str}            (the rewrite itself is the step's diff)
      conntrack      {"hook": str|null, "state": str, "tuple": str, "entry": str}
      policy         {"table": str, "chain": str, "hook": str|null, "rule_number": int|null, "rule": str,
                      "verdict": str, "policy": str|null, "direction": "ingress"|"egress"|null,
                      "rule_index": int|null, "reason": str}
      dns            {"name": str, "type": "A"|"CNAME"|"SRV"|"forward", "answers": [str]}
      encapsulation  {"encapsulation": "vxlan"|"ipip", "outer_src": str, "outer_dst": str, "dport": int|null}
      link           {"port": str, "bridge": str|null}
      deliver        {"address": str, "source_seen": str, "error": str}
      drop           {"reason": str, "reject_with": str|null}  (the step's action is DROP or REJECT)
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any, ClassVar

from kplab.errors import KplabError

VERSION = 1
VERDICTS = ("ACCEPT", "DROP", "REJECT")
STEP_KINDS = ("route", "rule", "nat", "conntrack", "policy", "dns", "encapsulation", "link", "deliver", "drop")
FLOW_FIELDS = ("src", "sport", "dst", "dport", "protocol", "tcp_flags", "mark")
DIFF_FIELDS = FLOW_FIELDS + ("embedded",)  # an ICMP error's quoted packet is translated too
HOST_KINDS = ("pod", "node", "router", "load-balancer", "outside")
ORIGINS = ("kplab", "kernel")  # simulated by kplab's walk; observed in the Linux kernel (kplab.lab)
PATHS = ("input", "forward", "output")

# ICMP destination-unreachable codes by name (RFC 792/1812), for reading a Flow.
ICMP_UNREACH_CODES = {0: "net-unreachable", 1: "host-unreachable", 2: "proto-unreachable", 3: "port-unreachable",
                      9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}


def _table(head: tuple[str, ...], rows: list[tuple], caption: str = "") -> str:
    """A plain HTML table: escaped cells, a header row, an optional caption."""
    cap = f"<caption style=\"text-align:left;font-weight:bold\">{html.escape(caption)}</caption>" if caption else ""
    th = "".join(f"<th style=\"text-align:left\">{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td style=\"text-align:left\">{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class=\"kplab\">{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _esc(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _code(value: Any) -> str:
    return "" if value is None or value == "" else f"<code>{html.escape(str(value))}</code>"


def _need(data: Any, key: str, where: str) -> Any:
    if not isinstance(data, dict):
        raise KplabError(f"trace JSON {where}: expected an object, got {type(data).__name__}")
    if key not in data:
        raise KplabError(f"trace JSON {where}: missing field {key!r}")
    return data[key]


def _flow_field(data: Any, key: str, where: str) -> "Flow | None":
    """Field KEY of DATA read as a Flow, or None where the JSON has null (a packet that never left, ...)."""
    value = _need(data, key, where)
    return Flow.from_dict(value, f"{where}.{key}") if value is not None else None


def _dict_or_none(value: Any) -> Any:
    return value.to_dict() if value is not None else None


# ---- the packet ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Flow:
    """A packet's header at one point of its walk.

    src, dst: addresses; protocol: tcp, udp, sctp, icmp or icmpv6; sport, dport: ports (None for ICMP);
    tcp_flags: "SYN", "SYN,ACK", ... ("" unless tcp); mark: the skb mark (an integer, 0 when unset; never crosses
    a wire); icmp_type, icmp_code: for ICMP only (code for errors: 3 port-unreachable, 13 admin-prohibited ...);
    embedded: the header an ICMP error quotes (the packet it is about), else None.
    """

    src: str
    dst: str
    protocol: str = "tcp"
    sport: int | None = None
    dport: int | None = None
    tcp_flags: str = ""
    mark: int = 0
    icmp_type: str | None = None
    icmp_code: int | None = None
    embedded: Flow | None = None

    @classmethod
    def of(cls, packet: Any) -> Flow:
        """The header of any packet-like object (kplab.netfilter.Packet, or one from the kernel lab)."""
        if isinstance(packet, Flow):
            return packet
        icmp = packet.protocol.startswith("icmp")
        embedded = getattr(packet, "embedded", None)
        # Every field is given, so the values go straight into the instance: a frozen dataclass's __init__ sets
        # them one object.__setattr__ call at a time, and a walk makes a Flow at every hop.
        flow = object.__new__(cls)
        flow.__dict__.update(src=packet.src, dst=packet.dst, protocol=packet.protocol, sport=packet.sport,
                             dport=packet.dport, tcp_flags=packet.tcp_flags if packet.protocol == "tcp" else "",
                             mark=getattr(packet, "mark", 0) or 0,
                             icmp_type=getattr(packet, "icmp_type", None) if icmp else None,
                             icmp_code=getattr(packet, "icmp_code", None) if icmp else None,
                             embedded=cls.of(embedded) if embedded is not None else None)
        return flow

    @property
    def flags(self) -> frozenset[str]:
        return frozenset(f for f in self.tcp_flags.upper().split(",") if f)

    def __str__(self) -> str:
        src = f"{self.src}:{self.sport}" if self.sport is not None else self.src
        dst = f"{self.dst}:{self.dport}" if self.dport is not None else self.dst
        text = f"{self.protocol} {src} -> {dst}" + (f" [{self.tcp_flags}]" if self.tcp_flags else "")
        if self.icmp_type:
            text += f" {self.icmp_type}"
            if self.icmp_code is not None:
                text += f" ({ICMP_UNREACH_CODES.get(self.icmp_code, f'code {self.icmp_code}')})"
        if self.embedded is not None:
            text += f" quoting [{self.embedded}]"
        return text

    def _repr_html_(self) -> str:
        return _code(self)

    def to_dict(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "protocol": self.protocol, "sport": self.sport,
                "dport": self.dport, "tcp_flags": self.tcp_flags, "mark": self.mark, "icmp_type": self.icmp_type,
                "icmp_code": self.icmp_code,
                "embedded": _dict_or_none(self.embedded)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "packet") -> Flow:
        values = {f.name: _need(data, f.name, where) for f in fields(cls)}
        if values["embedded"] is not None:
            values["embedded"] = cls.from_dict(values["embedded"], f"{where}.embedded")
        return cls(**values)


def _value_str(value: Any) -> str:
    if isinstance(value, Flow):
        return f"[{value}]"
    return hex(value) if isinstance(value, int) and value > 0xFF and value & 0xFF == 0 else str(value)


@dataclass(frozen=True)
class FlowDiff:
    """The header fields a step changed: (field, before, after) in DIFF_FIELDS order. Falsy when nothing changed.

    Values are those of Flow: addresses as strings, ports and marks as integers, a quoted header as a Flow."""

    changes: tuple[tuple[str, Any, Any], ...] = ()

    @classmethod
    def between(cls, before: Any, after: Any) -> FlowDiff:
        if before is None or after is None or before is after or before == after:
            return cls()
        before, after = Flow.of(before), Flow.of(after)
        return cls(tuple((f, getattr(before, f), getattr(after, f)) for f in DIFF_FIELDS
                         if getattr(before, f) != getattr(after, f)))

    def __bool__(self) -> bool:
        return bool(self.changes)

    def get(self, name: str) -> tuple[Any, Any] | None:
        """(before, after) of one field, or None when the step left it alone."""
        for f, old, new in self.changes:
            if f == name:
                return old, new
        return None

    def __str__(self) -> str:
        return ", ".join(f"{f} {_value_str(old)} -> {_value_str(new)}" for f, old, new in self.changes)

    def _repr_html_(self) -> str:
        return _table(("field", "before", "after"),
                      [(_esc(f), _code(_value_str(a)), _code(_value_str(b))) for f, a, b in self.changes])

    def to_dict(self) -> list[dict[str, Any]]:
        def plain(v):
            return v.to_dict() if isinstance(v, Flow) else v
        return [{"field": f, "before": plain(old), "after": plain(new)} for f, old, new in self.changes]

    @classmethod
    def from_dict(cls, data: list[dict[str, Any]], where: str = "diff") -> FlowDiff:
        if not isinstance(data, list):
            raise KplabError(f"trace JSON {where}: expected a list of changes")
        out = []
        for i, c in enumerate(data):
            name = _need(c, "field", f"{where}[{i}]")
            if name == "embedded":
                old, new = _flow_field(c, "before", f"{where}[{i}]"), _flow_field(c, "after", f"{where}[{i}]")
            else:
                old, new = _need(c, "before", f"{where}[{i}]"), _need(c, "after", f"{where}[{i}]")
            out.append((name, old, new))
        return cls(tuple(out))


# ---- typed step details -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Detail:
    """What decided a step, in the terms of the thing that decided it. One subclass per step kind."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "detail") -> Detail:
        values = {}
        for f in fields(cls):
            v = _need(data, f.name, where)
            values[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**values)

    def _repr_html_(self) -> str:
        return _table(("field", "value"), [(_esc(f.name), _code(getattr(self, f.name))) for f in fields(self)])


@dataclass(frozen=True)
class RouteDetail(Detail):
    """A routing decision (the kernel's FIB lookup): the matching route as `ip route` prints it, the interface
    chosen and the next hop (None when the destination is on the link, or for a failed lookup)."""

    kind: ClassVar[str] = "route"
    route: str
    out_iface: str | None = None
    next_hop: str | None = None


@dataclass(frozen=True)
class RuleDetail(Detail):
    """A netfilter rule the packet matched, or a chain's end: table, chain, netfilter hook (PREROUTING, INPUT,
    FORWARD, OUTPUT, POSTROUTING), rule number in the chain (from 1; None for the chain's policy or its end), the
    rule in iptables-save syntax (`:CHAIN policy` for a policy) and what it did (ACCEPT, DROP, jump X, RETURN ...)."""

    kind: ClassVar[str] = "rule"
    table: str
    chain: str
    hook: str | None
    rule_number: int | None
    rule: str
    verdict: str


@dataclass(frozen=True)
class NatDetail(Detail):
    """A NAT rewrite: by a rule (DNAT, SNAT, MASQUERADE, REDIRECT; table nat) or by conntrack for a connection
    whose NAT is already decided (target "conntrack NAT"; no table, chain or rule). The change is the step's diff."""

    kind: ClassVar[str] = "nat"
    table: str | None
    chain: str | None
    hook: str | None
    rule_number: int | None
    rule: str
    target: str


@dataclass(frozen=True)
class ConntrackDetail(Detail):
    """Connection tracking: the state it gave the packet (NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED),
    `confirm` (the entry is committed after POSTROUTING/INPUT) or, in the kernel lab's traces, `update` (the
    kernel changed the entry for this packet: a ctnetlink update event); the packet's tuple; the entry as
    `conntrack -L` prints it (for confirm and update) or ""."""

    kind: ClassVar[str] = "conntrack"
    hook: str | None
    state: str
    tuple: str
    entry: str = ""


@dataclass(frozen=True)
class PolicyDetail(RuleDetail):
    """A rule of the CNI's NetworkPolicy enforcement (Calico's cali- chains): the rule fields of RuleDetail plus
    the NetworkPolicy it renders (`namespace/name`, None for the per-pod endpoint and dispatch chains), its
    direction, the index of the policy rule (spec.ingress[i] / spec.egress[i]) and the rule's reason (its comment)."""

    kind: ClassVar[str] = "policy"
    policy: str | None = None
    direction: str | None = None
    rule_index: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class DnsDetail(Detail):
    """Cluster DNS before the first packet: the name asked, the record type answered (A, CNAME, SRV, or
    `forward` for a name outside the cluster domain) and the answers."""

    kind: ClassVar[str] = "dns"
    name: str
    type: str
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class EncapsulationDetail(Detail):
    """The packet wrapped for (or unwrapped from) the node network: vxlan (UDP, outer dport 4789) or ipip
    (IP protocol 4, no port), with the outer header's addresses."""

    kind: ClassVar[str] = "encapsulation"
    encapsulation: str
    outer_src: str
    outer_dst: str
    dport: int | None = None


@dataclass(frozen=True)
class LinkDetail(Detail):
    """The link the packet arrived by: the interface (or bridge port) and the bridge it belongs to, if any."""

    kind: ClassVar[str] = "link"
    port: str
    bridge: str | None = None


@dataclass(frozen=True)
class DeliverDetail(Detail):
    """Delivery to a socket: the address it is bound or connected to, the source it sees, and what an
    application is told for an ICMP error or a reset ("" otherwise)."""

    kind: ClassVar[str] = "deliver"
    address: str
    source_seen: str
    error: str = ""


@dataclass(frozen=True)
class DropDetail(Detail):
    """The end of a packet that is not delivered: why (one sentence) and, for REJECT, the error it sends back
    (`--reject-with` value; None for DROP)."""

    kind: ClassVar[str] = "drop"
    reason: str
    reject_with: str | None = None


DETAILS: dict[str, type[Detail]] = {d.kind: d for d in (RouteDetail, RuleDetail, NatDetail, ConntrackDetail,
                                                        PolicyDetail, DnsDetail, EncapsulationDetail, LinkDetail,
                                                        DeliverDetail, DropDetail)}


# ---- steps, hops, outcomes, traces -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One decision on the packet's way.

    kind: one of STEP_KINDS; action: what happened (ACCEPT, DROP, REJECT, jump X, DNAT, forward, local, NEW,
    deliver ...); text: the deciding route, rule or record in its own syntax, or a sentence; detail: the typed
    record for `kind` (DETAILS[kind]); diff: what the step changed in the packet; note: a short why for students.
    """

    kind: str
    action: str
    text: str
    detail: Detail
    diff: FlowDiff = FlowDiff()
    note: str = ""

    def __post_init__(self) -> None:
        if type(self.detail) is not DETAILS.get(self.kind):
            raise KplabError(f"a {self.kind!r} step needs a {DETAILS[self.kind].__name__ if self.kind in DETAILS else 'known kind'}"
                             f" detail, not {type(self.detail).__name__}")

    # the rule fields, for the kinds that have them (None otherwise)
    table = property(lambda self: getattr(self.detail, "table", None), doc="The rule's table (str), or None.")
    chain = property(lambda self: getattr(self.detail, "chain", None), doc="The rule's chain (str), or None.")
    rule_number = property(lambda self: getattr(self.detail, "rule_number", None),
                           doc="The rule's 1-based number in its chain (int), or None.")
    hook = property(lambda self: getattr(self.detail, "hook", None), doc="The netfilter hook (str), or None.")

    @property
    def where(self) -> str:
        """`table/chain#number` for rule-like steps, else ""."""
        if not self.chain:
            return ""
        return f"{self.table}/{self.chain}" + (f"#{self.rule_number}" if self.rule_number else "")

    def __str__(self) -> str:
        body = f"{self.where} {self.text}".strip()
        tail = f"  => {self.action}" if self.action else ""
        diff = f"  [{self.diff}]" if self.diff else ""
        note = f"  ({self.note})" if self.note else ""
        return f"{self.kind:<13} {body}{tail}{diff}{note}"

    def _repr_html_(self) -> str:
        return _table(STEP_COLUMNS, [self._cells()])

    def _cells(self) -> tuple[str, ...]:
        return (_esc(self.kind), _esc(self.where), _code(self.text), _esc(self.action), _esc(self.diff or ""),
                _esc(self.note))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "action": self.action, "text": self.text, "note": self.note,
                "diff": self.diff.to_dict(), "detail": self.detail.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "step") -> Step:
        kind = _need(data, "kind", where)
        if kind not in DETAILS:
            raise KplabError(f"trace JSON {where}.kind: {kind!r} is not one of {', '.join(STEP_KINDS)}")
        return cls(kind, _need(data, "action", where), _need(data, "text", where),
                   DETAILS[kind].from_dict(_need(data, "detail", where), f"{where}.detail"),
                   FlowDiff.from_dict(_need(data, "diff", where), f"{where}.diff"), _need(data, "note", where))


STEP_COLUMNS = ("kind", "where", "route / rule / record", "action", "changes", "why")


@dataclass(frozen=True)
class Hop:
    """The packet on one host.

    host: the host's name (`namespace/pod`, a node name, `router`, `load-balancer`, or an outside address);
    host_kind: one of HOST_KINDS; in_iface, out_iface: the interfaces it came in and left by (None where it was
    sent or ended there); path: the kernel path it took (input, forward or output; None on hosts without rules);
    packet_in, packet_out: its header on arrival and on leaving (None if it did not leave); steps: in order.
    """

    host: str
    host_kind: str
    in_iface: str | None
    out_iface: str | None
    packet_in: Flow
    packet_out: Flow | None = None
    steps: tuple[Step, ...] = ()
    path: str | None = None

    @property
    def nat(self) -> tuple[Step, ...]:
        """The steps on this host that rewrote the packet's addresses or ports."""
        return tuple(s for s in self.steps if s.kind == "nat" and s.diff)

    def __str__(self) -> str:
        return f"{self.host} ({self.host_kind}) in {self.in_iface or '-'} out {self.out_iface or '-'}  {self.packet_in}"

    def _repr_html_(self) -> str:
        return _table(STEP_COLUMNS, [s._cells() for s in self.steps], caption=str(self))

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "host_kind": self.host_kind, "in_iface": self.in_iface,
                "out_iface": self.out_iface, "path": self.path, "packet_in": self.packet_in.to_dict(),
                "packet_out": _dict_or_none(self.packet_out),
                "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "hop") -> Hop:
        steps = _need(data, "steps", where)
        return cls(_need(data, "host", where), _need(data, "host_kind", where), _need(data, "in_iface", where),
                   _need(data, "out_iface", where), Flow.from_dict(_need(data, "packet_in", where), f"{where}.packet_in"),
                   _flow_field(data, "packet_out", where),
                   tuple(Step.from_dict(s, f"{where}.steps[{i}]") for i, s in enumerate(steps)),
                   _need(data, "path", where))


@dataclass(frozen=True)
class Outcome:
    """One possible ending of a trace: its exact probability (a Fraction), verdict (ACCEPT, DROP or REJECT), the
    receiver (`namespace/pod`, node or address; None unless delivered), the source address the receiver sees
    (`ip:port`), the hosts crossed in order, the header as delivered, and why it ended there (one sentence)."""

    probability: Fraction
    verdict: str
    delivered_to: str | None
    source_seen: str | None
    hosts: tuple[str, ...]
    packet_delivered: Flow | None = None
    reason: str = ""

    def __str__(self) -> str:
        return (f"{float(self.probability):6.1%}  {self.verdict:<6} delivered_to={self.delivered_to} "
                f"source_seen={self.source_seen}  via {' > '.join(self.hosts)}")

    def _repr_html_(self) -> str:
        return _table(OUTCOME_COLUMNS, [self._cells()])

    def _cells(self) -> tuple[str, ...]:
        return (_esc(self.probability), _esc(f"{float(self.probability):.1%}"), _esc(self.verdict),
                _esc(self.delivered_to or "-"), _esc(self.source_seen or "-"), _esc(" > ".join(self.hosts)))

    def to_dict(self) -> dict[str, Any]:
        return {"probability": str(self.probability), "verdict": self.verdict, "delivered_to": self.delivered_to,
                "source_seen": self.source_seen, "hosts": list(self.hosts),
                "packet_delivered": _dict_or_none(self.packet_delivered),
                "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "outcome") -> Outcome:
        text = _need(data, "probability", where)
        try:
            probability = Fraction(text)
        except (TypeError, ValueError, ZeroDivisionError):
            raise KplabError(f"trace JSON {where}.probability: {text!r} is not a fraction like \"1/3\"") from None
        return cls(probability, _need(data, "verdict", where), _need(data, "delivered_to", where),
                   _need(data, "source_seen", where), tuple(_need(data, "hosts", where)),
                   _flow_field(data, "packet_delivered", where),
                   _need(data, "reason", where))


OUTCOME_COLUMNS = ("probability", "", "verdict", "delivered to", "source seen", "via")


@dataclass(frozen=True)
class Trace:
    """One packet's walk from `source` to `destination`.

    source, destination: what was asked, as resolved (`namespace/pod`, `namespace/service`, a node, an address);
    notes: sentences on how names were resolved (a workload's pod chosen, ...); seed: the seed that chose the walk
    shown (None for a walk no seed chose: a branch listing, a packet of a Connection); packet: the header as the
    source sent it; dns: name resolution before the first hop; hops: the walk;
    verdict: ACCEPT (delivered), DROP or REJECT; delivered_to, source_seen, packet_delivered: the receiver, the
    source address it sees (`ip:port`) and the header it gets (None unless delivered); reason: one sentence;
    all_outcomes: every possible ending with its probability (see `outcomes()`; empty for a reply walk, whose
    outcomes belong to the trace it answers); reply: the answer's walk (asked with reply=True) or the error a
    REJECT sent back, else None;
    origin: "kplab" (simulated by kplab's walk) or "kernel" (observed in the Linux kernel by kplab.lab, from its
    nftrace events);
    network: the kplab.walk.Network the trace was walked on (for a kernel trace: the lab's), so that views can draw
    the whole cluster and walk the other outcomes; None for a trace read from JSON. It is context, not part of the
    value: not compared, not hashed, not in JSON.
    """

    source: str
    destination: str
    packet: Flow
    verdict: str
    hops: tuple[Hop, ...] = ()
    delivered_to: str | None = None
    source_seen: str | None = None
    packet_delivered: Flow | None = None
    reason: str = ""
    dns: tuple[Step, ...] = ()
    all_outcomes: tuple[Outcome, ...] = ()
    reply: Trace | None = None
    seed: int | None = None
    notes: tuple[str, ...] = ()
    origin: str = "kplab"
    network: Any = field(default=None, compare=False, repr=False)

    # ---- queries --------------------------------------------------------------------------
    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.host for h in self.hops)

    def steps(self, kind: str | None = None) -> tuple[tuple[Hop, Step], ...]:
        """(hop, step) for every step, or those of one kind."""
        return tuple((h, s) for h in self.hops for s in h.steps if kind is None or s.kind == kind)

    def nat_changes(self) -> tuple[tuple[str, Step], ...]:
        """Every step that rewrote the packet, with the host it happened on."""
        return tuple((h.host, s) for h in self.hops for s in h.steps if s.kind == "nat" and s.diff)

    def outcomes(self) -> tuple[Outcome, ...]:
        """Every possible outcome with its exact probability, most likely first (computed during the walk)."""
        return self.all_outcomes

    def play(self, **kw):
        """The animated player for this trace (kplab.views.player.play): the whole cluster it was walked on
        (`network`), or `cluster=`; `compare=` another Trace of the same connection (the kernel's beside kplab's)
        plays both side by side."""
        from kplab.views import player
        return player.play(self, **kw)

    # ---- text and HTML ------------------------------------------------------------------
    def __str__(self) -> str:
        lines = [f"trace {self.source} -> {self.destination}: {self.packet}"]
        lines += [f"      {note}" for note in self.notes]
        lines += [f"      {step}" for step in self.dns]
        n = 0
        for i, hop in enumerate(self.hops, 1):
            lines.append(f"hop {i}: {hop}")
            for step in hop.steps:
                n += 1
                lines.append(f"  {n:>3}. {step}")
        lines.append(f"=> {self.verdict}" + (f" delivered to {self.delivered_to}, source seen {self.source_seen}"
                                             if self.delivered_to else "")
                     + (f": {self.reason}" if self.reason and not self.delivered_to else ""))
        if self.reply is not None:
            lines.append("")
            lines.append("reply:")
            lines.extend("  " + line for line in str(self.reply).splitlines())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = (f"<p><b>trace {html.escape(self.source)} &rarr; {html.escape(self.destination)}</b>: "
                f"{_code(self.packet)}</p>")
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        rows = [("", "", _esc(s.kind), _esc(s.where), _code(s.text), _esc(s.action), _esc(s.diff or ""),
                 _esc(s.note)) for s in self.dns]
        for i, hop in enumerate(self.hops, 1):
            host = f"<b>{html.escape(hop.host)}</b> ({html.escape(hop.host_kind)})"
            for k, s in enumerate(hop.steps):
                rows.append((str(i) if k == 0 else "", host if k == 0 else "", *s._cells()))
        table = _table(("hop", "host") + STEP_COLUMNS, rows)
        end = (f"<p><b>{html.escape(self.verdict)}</b>"
               + (f" delivered to {html.escape(self.delivered_to)}, source seen {html.escape(self.source_seen or '')}"
                  if self.delivered_to else f": {html.escape(self.reason)}") + "</p>")
        outcomes = _table(OUTCOME_COLUMNS, [o._cells() for o in self.all_outcomes], caption="outcomes") \
            if self.all_outcomes else ""
        reply = f"<details><summary>reply</summary>{self.reply._repr_html_()}</details>" if self.reply else ""
        return f"<div class=\"kplab-trace\">{head}{notes}{table}{end}{outcomes}{reply}</div>"

    # ---- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON form (module docstring; kplab/walk/trace.schema.json). Plain dicts, lists, str, int, None."""
        return {
            "version": VERSION, "source": self.source, "destination": self.destination, "seed": self.seed,
            "notes": list(self.notes), "packet": self.packet.to_dict(),
            "dns": [s.to_dict() for s in self.dns], "hops": [h.to_dict() for h in self.hops],
            "verdict": self.verdict, "delivered_to": self.delivered_to, "source_seen": self.source_seen,
            "packet_delivered": _dict_or_none(self.packet_delivered),
            "reason": self.reason, "outcomes": [o.to_dict() for o in self.all_outcomes],
            "reply": _dict_or_none(self.reply),
        } | ({"origin": self.origin} if self.origin != "kplab" else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "trace") -> Trace:
        """A Trace from its JSON form; KplabError naming the field for anything missing or malformed."""
        version = _need(data, "version", where)
        if version != VERSION:
            raise KplabError(f"trace JSON {where}.version: {version!r} (this kplab reads version {VERSION})")
        verdict = _need(data, "verdict", where)
        if verdict not in VERDICTS:
            raise KplabError(f"trace JSON {where}.verdict: {verdict!r} is not one of {', '.join(VERDICTS)}")
        reply = _need(data, "reply", where)
        origin = data.get("origin", "kplab")
        if origin not in ORIGINS:
            raise KplabError(f"trace JSON {where}.origin: {origin!r} is not one of {', '.join(ORIGINS)}")
        try:
            return cls(
                source=_need(data, "source", where), destination=_need(data, "destination", where),
                packet=Flow.from_dict(_need(data, "packet", where), f"{where}.packet"), verdict=verdict,
                hops=tuple(Hop.from_dict(h, f"{where}.hops[{i}]") for i, h in enumerate(_need(data, "hops", where))),
                delivered_to=_need(data, "delivered_to", where), source_seen=_need(data, "source_seen", where),
                packet_delivered=_flow_field(data, "packet_delivered", where),
                reason=_need(data, "reason", where),
                dns=tuple(Step.from_dict(s, f"{where}.dns[{i}]") for i, s in enumerate(_need(data, "dns", where))),
                all_outcomes=tuple(Outcome.from_dict(o, f"{where}.outcomes[{i}]")
                                   for i, o in enumerate(_need(data, "outcomes", where))),
                reply=cls.from_dict(reply, f"{where}.reply") if reply is not None else None,
                seed=_need(data, "seed", where), notes=tuple(_need(data, "notes", where)), origin=origin)
        except TypeError as e:
            raise KplabError(f"trace JSON {where}: {e}") from None

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Trace:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise KplabError(f"trace JSON: line {e.lineno} column {e.colno}: {e.msg}") from None
        return cls.from_dict(data)
