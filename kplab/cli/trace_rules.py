"""`kplab trace-rules DUMP --src IP --dst IP --dport N [--sport N] [--protocol P] [--local-ip IP ...] [--in-iface I]
[--ipset FILE ...] [--json]`: one new connection's first packet through one node's rule set (kplab.netfilter.node)."""
from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from kplab.errors import KplabError
from kplab.netfilter.ipset import IPSets, parse_ipsets
from kplab.netfilter.node import node_stack, trace_first_packet
from kplab.netfilter.packet import Packet
from kplab.netfilter.ruleset import parse_ruleset
from kplab.views.rulewalk import report, text_report

DEFAULT_SPORT = 40000


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise KplabError(f"cannot read {what} {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise KplabError(f"{what} {path} is not text") from None


def _address(text: str, option: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise KplabError(f"{option}: {text!r} is not an IP address") from None


def run(args) -> int:
    text = _read(args.dump, "rules file")
    ruleset = parse_ruleset(text, source=args.dump)
    ipsets = IPSets()
    for path in getattr(args, "ipset", []) or []:
        ipsets = ipsets.merge(parse_ipsets(_read(path, "ipset file"), source=path))
    src = _address(args.src, "--src")
    dst = _address(args.dst, "--dst")
    local_ips = [_address(ip, "--local-ip") for ip in args.local_ip] + ["127.0.0.1", "::1"]
    if not 0 <= args.dport <= 65535:
        raise KplabError(f"--dport: {args.dport} is not a port")
    sport = args.sport if args.sport is not None else DEFAULT_SPORT
    protocol = args.protocol or "tcp"
    if protocol == "icmp" and ":" in dst:
        protocol = "icmpv6"
    has_ports = protocol in ("tcp", "udp", "sctp")
    packet = Packet(src, dst, protocol, sport if has_ports else None, args.dport if has_ports else None)
    stack = node_stack(ruleset, local_ips, ipsets)
    outcomes = trace_first_packet(stack, packet, args.in_iface or "eth0")
    data = report(outcomes)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(text_report(outcomes, data))
    return 0
