"""Targets (`-j NAME ...`): which options each accepts, their canonical form, and the small pure helpers the
walk needs (mark arithmetic, NAT ranges). What a target does to a packet and its connection is in stack.py,
because that needs conntrack.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from kplab.netfilter.option import Option, OptionSpec, ipv4_cidr, parse_mark

S = OptionSpec
TARGET_SPECS: dict[str, tuple[OptionSpec, ...]] = {
    "ACCEPT": (), "DROP": (), "RETURN": (), "NOTRACK": (), "TRACE": (),
    "REJECT": (S("--reject-with", "str"),),
    "DNAT": (S("--to-destination", "str"), S("--random", "flag"), S("--persistent", "flag")),
    "SNAT": (S("--to-source", "str"), S("--random", "flag"), S("--random-fully", "flag"), S("--persistent", "flag")),
    "MASQUERADE": (S("--to-ports", "str"), S("--random", "flag"), S("--random-fully", "flag")),
    "REDIRECT": (S("--to-ports", "str"), S("--random", "flag")),
    "MARK": (S("--set-xmark", "str"), S("--set-mark", "str"), S("--or-mark", "str"), S("--and-mark", "str"),
             S("--xor-mark", "str")),
    "CONNMARK": (S("--set-xmark", "str"), S("--set-mark", "str"), S("--or-mark", "str"), S("--and-mark", "str"),
                 S("--xor-mark", "str"), S("--save-mark", "flag"), S("--restore-mark", "flag"), S("--mask", "str"),
                 S("--nfmask", "str"), S("--ctmask", "str")),
    "LOG": (S("--log-level", "str"), S("--log-prefix", "str"), S("--log-tcp-sequence", "flag"),
            S("--log-tcp-options", "flag"), S("--log-ip-options", "flag"), S("--log-uid", "flag")),
    "NFLOG": (S("--nflog-group", "int"), S("--nflog-prefix", "str"), S("--nflog-range", "int"),
              S("--nflog-threshold", "int")),
    "CT": (S("--notrack", "flag"), S("--helper", "str"), S("--ctevents", "str"), S("--expevents", "str"),
           S("--zone-orig", "str"), S("--zone-reply", "str"), S("--zone", "str"), S("--timeout", "str")),
}


def _words(*names: str, flags: tuple[str, ...] = ()) -> tuple[OptionSpec, ...]:
    return tuple(S(n, "words") for n in names) + tuple(S(f, "flag") for f in flags)


# The rest of the targets iptables (1.8) ships, read with every option iptables-save prints for them. What each
# does to a walk is in stack.py: most change nothing kplab models and continue (PASSING); NFQUEUE and TPROXY
# hand the verdict to state kplab does not have (a Dependency); SYNPROXY answers a SYN itself.
TARGET_SPECS.update({
    "CHECKSUM": _words(flags=("--checksum-fill",)),
    "CLASSIFY": _words("--set-class"),
    "DSCP": _words("--set-dscp", "--set-dscp-class"),
    "TOS": _words("--set-tos", "--and-tos", "--or-tos", "--xor-tos"),
    "ECN": _words(flags=("--ecn-tcp-remove",)),
    "TTL": _words("--ttl-set", "--ttl-dec", "--ttl-inc"),
    "TCPMSS": _words("--set-mss", flags=("--clamp-mss-to-pmtu",)),
    "TCPOPTSTRIP": _words("--strip-options"),
    "AUDIT": _words("--type"),
    "IDLETIMER": _words("--timeout", "--label", "--alarm"),
    "LED": _words("--led-trigger-id", "--led-delay", flags=("--led-always-blink",)),
    "RATEEST": _words("--rateest-name", "--rateest-interval", "--rateest-ewmalog"),
    "SECMARK": _words("--selctx"),
    "CONNSECMARK": _words(flags=("--save", "--restore")),
    "TEE": _words("--gateway", "--oif"),
    "ULOG": _words("--ulog-nlgroup", "--ulog-prefix", "--ulog-cprange", "--ulog-qthreshold"),
    "SET": _words("--add-set", "--del-set", "--map-set", "--timeout", flags=("--exist", "--map-mark", "--map-prio",
                                                                             "--map-queue")),
    "HMARK": _words("--hmark-tuple", "--hmark-mod", "--hmark-offset", "--hmark-src-prefix", "--hmark-dst-prefix",
                    "--hmark-sport-mask", "--hmark-dport-mask", "--hmark-spi-mask", "--hmark-proto-mask",
                    "--hmark-rnd"),
    "NFQUEUE": _words("--queue-num", "--queue-balance", flags=("--queue-bypass", "--queue-cpu-fanout",
                                                               "--fail-open")),
    "TPROXY": _words("--on-port", "--on-ip", "--tproxy-mark"),
    "SYNPROXY": (S("--sack-perm", "flag"), S("--timestamp", "flag"), S("--wscale", "words"), S("--mss", "words"),
                 S("--ecn", "flag")),
    "CLUSTERIP": _words("--new", "--hashmode", "--clustermac", "--total-nodes", "--local-node", "--hash-init"),
    "NETMAP": (S("--to", "addr"),),
})
PASSING = {"CHECKSUM", "CLASSIFY", "DSCP", "TOS", "ECN", "TTL", "TCPMSS", "TCPOPTSTRIP", "AUDIT", "IDLETIMER", "LED",
           "RATEEST", "SECMARK", "CONNSECMARK", "TEE", "ULOG", "SET", "HMARK"}
TERMINATING = {"ACCEPT", "DROP", "REJECT", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "NFQUEUE", "TPROXY",
               "SYNPROXY", "CLUSTERIP"}
REJECT_WITH = {"icmp-net-unreachable", "icmp-host-unreachable", "icmp-port-unreachable", "icmp-proto-unreachable",
               "icmp-net-prohibited", "icmp-host-prohibited", "icmp-admin-prohibited", "tcp-reset",
               "icmp6-no-route", "icmp6-adm-prohibited", "icmp6-addr-unreachable", "icmp6-port-unreachable"}
_REJECT_ALIASES = {"tcp-rst": "tcp-reset", "net-unreach": "icmp-net-unreachable",
                   "host-unreach": "icmp-host-unreachable", "port-unreach": "icmp-port-unreachable",
                   "proto-unreach": "icmp-proto-unreachable", "net-prohib": "icmp-net-prohibited",
                   "host-prohib": "icmp-host-prohibited", "admin-prohib": "icmp-admin-prohibited",
                   "no-route": "icmp6-no-route", "adm-prohibited": "icmp6-adm-prohibited",
                   "addr-unreach": "icmp6-addr-unreachable", "port-unreachable": "icmp-port-unreachable"}


def _xmark(value: int, mask: int) -> Option:
    return Option("--set-xmark", (f"{value:#x}/{mask:#x}",))


def nat_ports(text: str) -> None:
    """`port[-port]` of a NAT target, checked as libxt_DNAT/MASQUERADE/REDIRECT do: 0-65535 (iptables 1.8 takes 0),
    not reversed; ValueError in iptables' words."""
    if text.startswith("-"):
        raise ValueError(f"Port `{text}' not valid")
    low, dash, high = text.partition("-")
    for port in (low, high) if dash else (low,):
        if not port.isdigit() or int(port) > 65535:
            raise ValueError(f"Port `{port}' not valid")
    if dash and int(high) < int(low):
        raise ValueError(f"Port range `{high}' funky")


def canonical_target(name: str, options: list[Option], ipv6: bool = False) -> tuple[Option, ...]:
    """Target options as iptables-save prints them (defaults filled in, mark forms folded to --set-xmark)."""
    by_name = {o.name: o for o in options}
    if name == "REJECT":
        default = "icmp6-port-unreachable" if ipv6 else "icmp-port-unreachable"
        value = by_name["--reject-with"].values[0] if "--reject-with" in by_name else default
        value = _REJECT_ALIASES.get(value, value)
        if value not in REJECT_WITH:
            raise ValueError(f"unknown --reject-with {value!r}")
        return (Option("--reject-with", (value,)),)
    if name in ("MARK", "CONNMARK"):
        forms = [o for o in options if o.name in ("--set-xmark", "--set-mark", "--or-mark", "--and-mark", "--xor-mark")]
        if name == "CONNMARK" and not forms:
            action = [o for o in options if o.name in ("--save-mark", "--restore-mark")]
            if len(action) != 1:
                raise ValueError("CONNMARK needs one of --set-mark, --save-mark, --restore-mark")
            mask = by_name.get("--mask")
            full = mask.values[0] if mask else "0xffffffff"
            nfmask = by_name["--nfmask"].values[0] if "--nfmask" in by_name else full
            ctmask = by_name["--ctmask"].values[0] if "--ctmask" in by_name else full
            return (action[0], Option("--nfmask", (f"{int(nfmask, 0):#x}",)), Option("--ctmask", (f"{int(ctmask, 0):#x}",)))
        if len(forms) != 1:
            raise ValueError(f"{name} needs exactly one of --set-xmark, --set-mark, --or-mark, --and-mark, --xor-mark")
        form = forms[0]
        value, mask = parse_mark(form.values[0])
        has_mask = "/" in form.values[0]
        if form.name == "--set-xmark":
            return (_xmark(value, mask),)
        if form.name == "--set-mark":
            return (_xmark(value, (mask | value) if has_mask else 0xFFFFFFFF),)
        if form.name == "--or-mark":
            return (_xmark(value, value),)
        if form.name == "--and-mark":
            return (_xmark(0, ~value & 0xFFFFFFFF),)
        return (_xmark(value, 0),)  # --xor-mark
    if name == "DNAT" and "--to-destination" not in by_name:
        raise ValueError("DNAT needs --to-destination")
    if name == "SNAT" and "--to-source" not in by_name:
        raise ValueError("SNAT needs --to-source")
    if name in ("DNAT", "SNAT"):
        key = "--to-destination" if name == "DNAT" else "--to-source"
        text = by_name[key].values[0]
        if text.startswith("[") and "]:" in text:
            nat_ports(text.rpartition("]:")[2])
        elif text.count(":") == 1:
            nat_ports(text.partition(":")[2])
        NatRange.parse(text)  # refuse a bad range now, not at walk time
    if name in ("MASQUERADE", "REDIRECT") and "--to-ports" in by_name:
        nat_ports(by_name["--to-ports"].values[0])
    if name == "CT" and "--notrack" in by_name and len(by_name) > 1:
        raise ValueError("CT --notrack takes no other option")
    specs = TARGET_SPECS[name]
    return tuple(by_name[s.name] for s in specs if s.name in by_name)


def apply_xmark(mark: int, option: Option) -> int:
    value, mask = parse_mark(option.values[0])
    return ((mark & ~mask) ^ value) & 0xFFFFFFFF


def _ip_text(text: str) -> str:
    """An address in canonical form; ValueError when it is not one."""
    if "/" not in text and ipv4_cidr(text) is not None:
        return text  # plain dotted quad: already canonical
    return str(ipaddress.ip_address(text))


@dataclass(frozen=True)
class NatRange:
    """`ip[-ip][:port[-port]]` of --to-destination / --to-source (`[v6]:port` for IPv6)."""
    first_ip: str | None
    last_ip: str | None
    first_port: int | None
    last_port: int | None

    @classmethod
    def parse(cls, text: str) -> "NatRange":
        address, ports = text, ""
        if text.startswith("["):
            address, _, rest = text[1:].partition("]")
            ports = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            address, ports = text.split(":")
        first, _, last = address.partition("-")
        try:
            first_ip = _ip_text(first) if first else None
            last_ip = _ip_text(last) if last else first_ip
            if ports:
                lo, _, hi = ports.partition("-")
                first_port, last_port = int(lo), int(hi or lo)
            else:
                first_port = last_port = None
        except ValueError:
            raise ValueError(f"bad NAT address {text!r}") from None
        return cls(first_ip, last_ip, first_port, last_port)


@lru_cache(maxsize=4096)
def nat_range(text: str) -> NatRange:
    """NatRange.parse, once per distinct text (ValueError if bad): a DNAT or SNAT rule reads its
    --to-destination/--to-source at every connection it translates. NatRange is frozen, so sharing is safe."""
    return NatRange.parse(text)
