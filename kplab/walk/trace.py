"""The trace model: Trace -> Hop -> Step, each step naming what decided it and what it changed.

One trace, many views: `str(trace)` is a numbered listing, `trace.to_json()` stable JSON; the DataFrame, the
HTML page, the player and the widgets (kplab.views) read the same objects.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

STEP_KINDS = ("route", "rule", "conntrack", "nat", "policy", "dns", "encapsulation", "deliver", "drop", "link")
FLOW_FIELDS = ("src", "sport", "dst", "dport", "protocol", "tcp_flags", "mark")
DIFF_FIELDS = FLOW_FIELDS + ("embedded",)  # an ICMP error's quoted packet is translated too


def packet_dict(packet) -> dict[str, Any]:
    data = {f: getattr(packet, f, None) for f in FLOW_FIELDS}
    if getattr(packet, "embedded", None) is not None:  # ICMP errors only: keeps other packets' JSON as it was
        data["icmp_type"], data["icmp_code"] = packet.icmp_type, packet.icmp_code
        data["embedded"] = packet_dict(packet.embedded)
    return data


def packet_str(packet) -> str:
    src = f"{packet.src}:{packet.sport}" if packet.sport is not None else packet.src
    dst = f"{packet.dst}:{packet.dport}" if packet.dport is not None else packet.dst
    flags = f" [{packet.tcp_flags}]" if packet.protocol == "tcp" and getattr(packet, "tcp_flags", None) else ""
    text = f"{packet.protocol} {src} -> {dst}{flags}"
    if packet.protocol.startswith("icmp") and getattr(packet, "icmp_type", None):
        text += f" {packet.icmp_type}"
        if getattr(packet, "icmp_code", None) is not None:
            from kplab.netfilter.packet import ICMP_UNREACH_CODES
            text += f" ({ICMP_UNREACH_CODES.get(packet.icmp_code, f'code {packet.icmp_code}')})"
    if getattr(packet, "embedded", None) is not None:
        text += f" quoting [{packet_str(packet.embedded)}]"
    return text


@dataclass(frozen=True)
class FlowDiff:
    """The header fields a step changed: (field, before, after), in FLOW_FIELDS order."""

    changes: tuple[tuple[str, Any, Any], ...] = ()

    @classmethod
    def between(cls, before, after) -> "FlowDiff":
        if before is None or after is None or before == after:
            return cls()
        return cls(tuple((f, getattr(before, f, None), getattr(after, f, None)) for f in DIFF_FIELDS
                         if getattr(before, f, None) != getattr(after, f, None)))

    def __bool__(self) -> bool:
        return bool(self.changes)

    def get(self, name: str) -> tuple[Any, Any] | None:
        for f, old, new in self.changes:
            if f == name:
                return old, new
        return None

    def __str__(self) -> str:
        return ", ".join(f"{f} {_fmt(old)} -> {_fmt(new)}" for f, old, new in self.changes)

    def to_dict(self) -> dict[str, list[Any]]:
        return {f: [_plain(old), _plain(new)] for f, old, new in self.changes}


def _plain(value: Any) -> Any:
    """JSON-ready: a quoted packet becomes its one-line form."""
    return packet_str(value) if hasattr(value, "protocol") else value


def _fmt(value: Any) -> str:
    if hasattr(value, "protocol"):
        return f"[{packet_str(value)}]"
    return hex(value) if isinstance(value, int) and value > 0xFF and value & 0xFF == 0 else str(value)


@dataclass
class Step:
    kind: str  # one of STEP_KINDS
    text: str  # the deciding route, rule or policy in its own syntax, or a sentence
    action: str = ""  # ACCEPT, DNAT, MASQUERADE, forward, deliver, ...
    table: str | None = None
    chain: str | None = None
    rule_number: int | None = None
    diff: FlowDiff = field(default_factory=FlowDiff)
    note: str = ""  # a short why, for students

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "action": self.action, "table": self.table,
                "chain": self.chain, "rule_number": self.rule_number, "diff": self.diff.to_dict(),
                "note": self.note}

    def __str__(self) -> str:
        where = f"{self.table}/{self.chain}" + (f"#{self.rule_number}" if self.rule_number else "") if self.chain else ""
        head = f"{self.kind:<13}"
        body = f"{where} {self.text}".strip()
        tail = f"  => {self.action}" if self.action else ""
        diff = f"  [{self.diff}]" if self.diff else ""
        note = f"  ({self.note})" if self.note else ""
        return f"{head} {body}{tail}{diff}{note}"


@dataclass
class Hop:
    host: str
    host_kind: str
    in_iface: str | None
    out_iface: str | None
    packet_in: Any
    packet_out: Any = None
    steps: list[Step] = field(default_factory=list)
    path: str | None = None  # the engine's path: input, forward or output

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "host_kind": self.host_kind, "in_iface": self.in_iface,
                "out_iface": self.out_iface, "path": self.path,
                "packet_in": packet_dict(self.packet_in) if self.packet_in else None,
                "packet_out": packet_dict(self.packet_out) if self.packet_out else None,
                "steps": [s.to_dict() for s in self.steps]}

    @property
    def nat(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "nat" and s.diff]


@dataclass
class Outcome:
    probability: Fraction
    verdict: str
    delivered_to: str | None
    source_seen: str | None
    hops: list[str]
    trace: "Trace | None" = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"probability": float(self.probability), "probability_fraction": str(self.probability),
                "verdict": self.verdict, "delivered_to": self.delivered_to,
                "source_seen": self.source_seen, "hops": self.hops}


@dataclass
class Trace:
    packet: Any  # the packet as the source sent it
    verdict: str  # ACCEPT (delivered), DROP or REJECT
    hops: list[Hop] = field(default_factory=list)
    delivered_to: str | None = None  # "ns/pod", a node name or an address
    source_seen: str | None = None  # "ip:port" the receiver sees
    packet_delivered: Any = None
    reason: str = ""  # one sentence: why it ended this way
    reply: "Trace | None" = None
    dns: list[Step] = field(default_factory=list)  # name resolution before the first hop
    source: str = ""
    destination: str = ""
    _outcomes: Callable[[], list[Outcome]] | None = field(default=None, repr=False, compare=False)
    _outcome_cache: list[Outcome] | None = field(default=None, repr=False, compare=False)

    # ---- queries --------------------------------------------------------------------------
    @property
    def host_names(self) -> list[str]:
        return [h.host for h in self.hops]

    def steps(self, kind: str | None = None) -> list[tuple[Hop, Step]]:
        return [(h, s) for h in self.hops for s in h.steps if kind is None or s.kind == kind]

    def nat_changes(self) -> list[tuple[str, Step]]:
        """Every step that rewrote the packet, with the host it happened on."""
        return [(h.host, s) for h in self.hops for s in h.steps if s.kind == "nat" and s.diff]

    def outcomes(self) -> list[Outcome]:
        """Every possible outcome with its exact probability (enumerated over the rules' random choices)."""
        if self._outcome_cache is None:
            if self._outcomes is None:
                self._outcome_cache = [self.as_outcome(Fraction(1))]
            else:
                self._outcome_cache = self._outcomes()
        return self._outcome_cache

    def as_outcome(self, probability: Fraction) -> Outcome:
        return Outcome(probability, self.verdict, self.delivered_to, self.source_seen, self.host_names, self)

    # ---- views ----------------------------------------------------------------------------
    def __str__(self) -> str:
        lines = [f"trace {self.source} -> {self.destination}: {packet_str(self.packet)}"]
        for step in self.dns:
            lines.append(f"      {step}")
        n = 0
        for i, hop in enumerate(self.hops, 1):
            ifaces = f"in {hop.in_iface or '-'} out {hop.out_iface or '-'}"
            lines.append(f"hop {i}: {hop.host} ({hop.host_kind}) {ifaces}  {packet_str(hop.packet_in)}")
            for step in hop.steps:
                n += 1
                lines.append(f"  {n:>3}. {step}")
        lines.append(f"=> {self.verdict}" + (f" delivered to {self.delivered_to}, source seen {self.source_seen}"
                                             if self.delivered_to else "") + (f": {self.reason}" if self.reason and not self.delivered_to else ""))
        if self.reply is not None:
            lines.append("")
            lines.append("reply:")
            lines.extend("  " + line for line in str(self.reply).splitlines())
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # notebooks
        import html
        return f"<pre>{html.escape(str(self))}</pre>"

    def to_dict(self, outcomes: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "from": self.source, "to": self.destination,
            "packet": packet_dict(self.packet),
            "verdict": self.verdict, "delivered_to": self.delivered_to, "source_seen": self.source_seen,
            "reason": self.reason,
            "dns": [s.to_dict() for s in self.dns],
            "hops": [h.to_dict() for h in self.hops],
            "reply": self.reply.to_dict(outcomes=False) if self.reply is not None else None,
        }
        if outcomes:
            data["outcomes"] = [o.to_dict() for o in self.outcomes()]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)
