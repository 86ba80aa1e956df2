"""One iptables rule: the IP header part (-s -d -i -o -p), matches in order, and a target.

Equality ignores where the rule came from (line, original text), so a rule read from kube-proxy's restore
input equals the same rule read back from `iptables-save` output.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Callable

from kplab.netfilter.match import Match, MatchContext
from kplab.netfilter.option import Option, ipv4_cidr, ipv4_mask, ipv4_network_text, norm_address
from kplab.netfilter.packet import ip_int, ip_version

from kplab.netfilter.target import TARGET_SPECS

BUILTIN_TARGETS = frozenset(TARGET_SPECS)  # every target iptables ships (target.py); any other name is a chain


@dataclass(frozen=True, slots=True)
class AddressTest:
    """`-s`/`-d` compiled: network and mask as integers."""
    version: int
    network: int
    mask: int

    @classmethod
    def of(cls, cidr: str) -> "AddressTest":
        parsed = ipv4_cidr(cidr)
        if parsed is None:
            return _address_test(cidr)
        value, prefix = parsed
        mask = ipv4_mask(prefix)
        return cls(4, value & mask, mask)

    def __call__(self, address: str) -> bool:
        return ip_version(address) == self.version and (ip_int(address) & self.mask) == self.network


def read_address(text: str) -> tuple[str, AddressTest]:
    """A `-s`/`-d` value as (canonical text, compiled test), reading the text once (ValueError if bad)."""
    parsed = ipv4_cidr(text)
    if parsed is None:
        canonical = norm_address(text)
        return canonical, _address_test(canonical)
    value, prefix = parsed
    mask = ipv4_mask(prefix)
    return ipv4_network_text(text, value, prefix), AddressTest(4, value & mask, mask)


@lru_cache(maxsize=4096)
def _address_test(cidr: str) -> AddressTest:
    net = ipaddress.ip_network(cidr)
    return AddressTest(net.version, int(net.network_address), int(net.netmask))


def iface_matches(pattern: str, name: str) -> bool:
    """`-i eth+` matches every name starting with eth (the kernel's wildcard)."""
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern


@dataclass(frozen=True, slots=True)
class Rule:
    chain: str
    src: str | None = None
    src_negated: bool = False
    dst: str | None = None
    dst_negated: bool = False
    in_iface: str | None = None
    in_negated: bool = False
    out_iface: str | None = None
    out_negated: bool = False
    protocol: str | None = None
    protocol_negated: bool = False
    matches: tuple[Match, ...] = ()
    target: str | None = None
    target_options: tuple[Option, ...] = ()
    goto: bool = False
    line: int = field(default=0, compare=False)
    source_text: str = field(default="", compare=False, repr=False)
    _src_test: Callable | None = field(default=None, compare=False, repr=False)
    _dst_test: Callable | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The parser passes the tests it compiled while reading the addresses; compile them otherwise.
        if self.src is not None and self._src_test is None:
            object.__setattr__(self, "_src_test", AddressTest.of(self.src))
        if self.dst is not None and self._dst_test is None:
            object.__setattr__(self, "_dst_test", AddressTest.of(self.dst))

    @property
    def jumps_to_chain(self) -> bool:
        return self.target is not None and self.target not in BUILTIN_TARGETS

    def spec_text(self) -> str:
        """The rule after `-A CHAIN`, in iptables-save's order."""
        parts: list[str] = []

        def add(flag: str, value: str | None, negated: bool) -> None:
            if value is not None:
                parts.extend((["!"] if negated else []) + [flag, value])
        add("-s", self.src, self.src_negated)
        add("-d", self.dst, self.dst_negated)
        add("-i", self.in_iface, self.in_negated)
        add("-o", self.out_iface, self.out_negated)
        add("-p", self.protocol, self.protocol_negated)
        parts.extend(m.text() for m in self.matches)
        if self.target is not None:
            parts.append(("-g " if self.goto else "-j ") + self.target)
            parts.extend(o.text() for o in self.target_options)
        return " ".join(parts)

    def text(self) -> str:
        spec = self.spec_text()
        return f"-A {self.chain} {spec}" if spec else f"-A {self.chain}"

    @property
    def display(self) -> str:
        """The rule as the user wrote it (or as iptables-save prints it when built in code)."""
        return self.source_text or self.text()

    @property
    def comment(self) -> str | None:
        for m in self.matches:
            if m.name == "comment":
                return m.options[0].values[0]
        return None

    def header_matches(self, ctx: MatchContext) -> bool:
        """The kernel's ip_packet_match: addresses, interfaces, protocol. Checked before any match module."""
        p = ctx.packet
        if self._src_test is not None and self._src_test(p.src) == self.src_negated:
            return False
        if self._dst_test is not None and self._dst_test(p.dst) == self.dst_negated:
            return False
        if self.in_iface is not None and iface_matches(self.in_iface, ctx.in_iface or "") == self.in_negated:
            return False
        if self.out_iface is not None and iface_matches(self.out_iface, ctx.out_iface or "") == self.out_negated:
            return False
        if self.protocol is not None and (_proto(p.protocol) == self.protocol) == self.protocol_negated:
            return False
        return True

    def matches_packet(self, ctx: MatchContext) -> bool:
        if not self.header_matches(ctx):
            return False
        ctx.rule = self
        for m in self.matches:
            if not m.test(ctx):
                return False
        return True


RULE_FIELDS = tuple(f.name for f in fields(Rule))
_SETTERS = tuple(getattr(Rule, name).__set__ for name in RULE_FIELDS)


def rule_from_values(values: list) -> Rule:
    """`Rule(*values)` for the parser, which holds every field in order, address tests included. It writes the
    slots directly: the frozen dataclass __init__ (argument binding, then a setattr call per field) costs twice
    as much, and a big dump has hundreds of thousands of rules."""
    rule = object.__new__(Rule)
    for set_field, value in zip(_SETTERS, values):
        set_field(rule, value)
    return rule


def _proto(protocol: str) -> str:
    return "ipv6-icmp" if protocol == "icmpv6" else protocol
