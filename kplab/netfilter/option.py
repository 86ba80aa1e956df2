"""Options of matches and targets: how each is read, normalised and printed.

Every option value is stored in the canonical text `iptables-save` would print (e.g. `-d 10.96.0.10` becomes
`10.96.0.10/32`, `--or-mark 0x4000` becomes `--set-xmark 0x4000/0x4000`, `0.3333333333` becomes `0.33333333349`),
so two rules are equal exactly when the kernel would hold the same rule. That is what makes
parse -> save -> parse an identity.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from kplab.netfilter.probability import Probability

CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
CT_STATUSES = ("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
ADDR_TYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE",
              "PROHIBIT", "THROW", "NAT", "XRESOLVE")


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # canonical long name, e.g. "--dport"
    values: tuple[str, ...] = ()
    negated: bool = False

    def text(self) -> str:
        parts = (["!"] if self.negated else []) + [self.name] + [
            quote(v) if self.name in QUOTED or not v or _NEEDS_QUOTES.search(v) else v for v in self.values]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    name: str
    kind: str  # how the value is read; see normalise()
    aliases: tuple[str, ...] = ()
    nargs: int = 1


# Options whose value is free text: printed the way xtables_save_string does (quoted unless plain).
QUOTED = {"--comment", "--log-prefix", "--nflog-prefix", "--string", "--hex-string", "--u32", "--bytecode"}
_NEEDS_QUOTES = re.compile(r"""[\s"'\\]""")  # a value that would not read back as one word
_PLAIN = set("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def quote(value: str) -> str:
    if value and all(c in _PLAIN for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return f'"{escaped}"'


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_CIDR = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/([12]?[0-9]|3[0-2]))?")


def ipv4_cidr(text: str) -> tuple[int, int] | None:
    """`a.b.c.d` or `a.b.c.d/n` written plainly (no leading zeros) as (address, prefix length), else None.

    The fast path for the hundreds of thousands of addresses in a kube-proxy dump; anything else (IPv6,
    dotted netmasks, odd spellings) goes through ipaddress."""
    m = _IPV4_CIDR.fullmatch(text)
    if m is None:
        return None
    a, b, c, d, prefix = m.groups()
    return (int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)), (32 if prefix is None else int(prefix))


def ipv4_mask(prefix: int) -> int:
    return (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF


def norm_address(text: str) -> str:
    """`10.0.0.5/8` -> `10.0.0.0/8`, `10.96.0.10` -> `10.96.0.10/32` (what iptables-save prints)."""
    parsed = ipv4_cidr(text)
    if parsed is None:
        return _norm_address_slow(text)
    return ipv4_network_text(text, *parsed)


def ipv4_network_text(text: str, value: int, prefix: int) -> str:
    """The canonical `network/prefix` of `text`, already read by ipv4_cidr into value and prefix."""
    network = value & ipv4_mask(prefix)
    if network == value:
        return text if "/" in text else text + "/32"
    return f"{network >> 24}.{network >> 16 & 255}.{network >> 8 & 255}.{network & 255}/{prefix}"


@lru_cache(maxsize=4096)
def _norm_address_slow(text: str) -> str:
    try:
        if "/" in text:
            address, mask = text.split("/", 1)
            if "." in mask:  # dotted netmask
                return str(ipaddress.ip_network(f"{address}/{mask}", strict=False))
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"bad address {text!r}") from None


def norm_port(text: str) -> str:
    if ":" in text:
        lo, hi = text.split(":", 1)
        lo_n, hi_n = _port(lo or "0"), _port(hi or "65535")
        if lo_n > hi_n:
            raise ValueError(f"bad port range {text!r}")
        return str(lo_n) if lo_n == hi_n else f"{lo_n}:{hi_n}"
    return str(_port(text))


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"bad port {text!r}") from None
    if not 0 <= n <= 65535:
        raise ValueError(f"port {n} out of range")
    return n


def norm_mark(text: str) -> str:
    value, _, mask = text.partition("/")
    v = _u32(value)
    if not mask or _u32(mask) == 0xFFFFFFFF:
        return f"{v:#x}"
    return f"{v:#x}/{_u32(mask):#x}"


def _u32(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise ValueError(f"bad mark value {text!r}") from None
    if not 0 <= n <= 0xFFFFFFFF:
        raise ValueError(f"mark {text} is not a 32-bit value")
    return n


def parse_mark(text: str) -> tuple[int, int]:
    value, _, mask = text.partition("/")
    return _u32(value), (_u32(mask) if mask else 0xFFFFFFFF)


def _norm_list(text: str, allowed: tuple[str, ...], what: str) -> str:
    items = [s.strip().upper() for s in text.split(",") if s.strip()]
    for item in items:
        if item not in allowed:
            raise ValueError(f"unknown {what} {item!r}")
    return ",".join(s for s in allowed if s in items)


def normalise(spec: OptionSpec, values: list[str]) -> tuple[str, ...]:
    """Read an option's values into canonical text; ValueError with a short reason when they are bad."""
    kind = spec.kind
    if kind == "flag":
        return ()
    if kind == "text":
        return (" ".join(values),)
    if kind == "str" or kind == "words":
        return tuple(values)
    if kind == "int":
        try:
            return tuple(str(int(v, 0)) for v in values)
        except ValueError:
            raise ValueError(f"{spec.name} needs a number, not {' '.join(values)!r}") from None
    v = values[0]
    if kind == "iface":
        if v == "!":
            raise ValueError(f"put '!' before {spec.name}, not after it")
        if not v or len(v) > 15 or "/" in v or v.startswith("-"):
            raise ValueError(f"{spec.name} needs an interface name (1-15 characters), not {v!r}")
        return (v,)
    if kind == "port":
        return (norm_port(v),)
    if kind == "ports":
        return (",".join(norm_port(p) for p in v.split(",")),)
    if kind == "addr":
        return (norm_address(v),)
    if kind == "mark":
        return (norm_mark(v),)
    if kind == "states":
        return (_norm_list(v, CT_STATES, "conntrack state"),)
    if kind == "ctstatus":
        return (_norm_list(v, CT_STATUSES, "conntrack status"),)
    if kind == "addrtype":
        return (_norm_list(v, ADDR_TYPES, "address type"),)
    if kind == "prob":
        return (_prob_text(v),)
    if kind == "mask":
        return (str(ipaddress.ip_address(v)),)
    if kind == "range":
        lo, _, hi = v.partition("-")
        return (f"{ipaddress.ip_address(lo)}-{ipaddress.ip_address(hi or lo)}",)
    if kind == "setdir":
        name, dirs = values
        for d in dirs.split(","):
            if d not in ("src", "dst"):
                raise ValueError(f"--match-set direction must be src or dst, not {d!r}")
        return (name, dirs)
    if kind == "tcpflags":
        flags = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
        out = []
        for part in values:
            items = [f.upper() for f in part.split(",") if f]
            if items == ["ALL"]:
                items = list(flags)
            if items == ["NONE"]:
                out.append("NONE")
                continue
            out.append(_norm_list(",".join(items), flags, "TCP flag"))
        return tuple(out)
    if kind.startswith("choice:"):
        choices = kind[len("choice:"):].split("|")
        if v not in choices:
            raise ValueError(f"{spec.name} must be one of {', '.join(choices)}, not {v!r}")
        return (v,)
    raise AssertionError(kind)


@lru_cache(maxsize=4096)
def _prob_text(text: str) -> str:
    return Probability.parse(text).text()
