"""`kplab trace-rules DUMP --src IP --dst IP --dport N [--sport N] [--protocol P] [--local-ip IP ...] [--in-iface I]
[--ipset FILE ...] [--json]`: one new connection's first packet through one node's rule set (kplab.netfilter.node)."""
from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

from kplab.errors import KplabError
from kplab.kubeproxy.localnet import localnet_rule
from kplab.netfilter.fib import Fib, node_fib, parse_addrs, parse_routes, route_from_words
from kplab.textfile import read_text
from kplab.netfilter.ipset import IPSets, parse_ipsets
from kplab.netfilter.node import node_stack, trace_first_packet
from kplab.netfilter.packet import Packet
from kplab.netfilter.ruleset import dump_warnings, parse_ruleset, unreached_chains
from kplab.views.rulewalk import report, text_report

DEFAULT_SPORT = 40000


MAX_DUMP_BYTES = 256 << 20  # several times a 10,000-Service node's iptables-save (about 40 MB)


def _read(path: str, what: str) -> str:
    return read_text(path, MAX_DUMP_BYTES, what)


def _address(text: str, option: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise KplabError(f"{option}: {text!r} is not an IP address") from None


def _fib(args, local_ips: list[str]) -> Fib | None:
    """The node's addresses and routes from --addrs/--routes files and --addr/--route one-offs (None: none)."""
    addresses = []
    if getattr(args, "addrs", None):
        addresses += parse_addrs(_read(args.addrs, "addresses file"), source=args.addrs)
    for k, one in enumerate(getattr(args, "addr", []) or [], start=1):
        words = one.split()
        if len(words) != 2:
            raise KplabError(f"--addr {one!r}: write 'IFACE IP/PREFIX', e.g. 'docker0 172.17.0.1/16'")
        addresses += parse_addrs(f"{k}: {words[0]}    inet{'6' if ':' in words[1] else ''} {words[1]}\n",
                                 source=f"--addr {one!r}")
    routes = None
    if getattr(args, "routes", None):
        routes = parse_routes(_read(args.routes, "routes file"), source=args.routes)
    for one in getattr(args, "route", []) or []:
        routes = (routes or []) + [route_from_words(one.split(), f"--route {one!r}")]
    if not addresses and routes is None:
        return None
    if not addresses:
        raise KplabError("--routes/--route need the node's addresses too (--addrs FILE from `ip -o addr`, or --addr)")
    main = next((ip for ip in local_ips if not ipaddress.ip_address(ip).is_loopback), None)
    return node_fib(addresses, routes, main_address=main)


def _in_iface(stack, src: str) -> tuple[str, str | None]:
    """Where a packet from `src` arrives when --in-iface is not given, and the assumption made when the node's
    routes do not tell (None when they do). The interface is the one the node's own route back to the source
    leaves by: a local pod's packet arrives on its host-side interface (cni0 or docker0 for a bridge, the pod's
    cali*/veth for Calico's /32 routes), which is what PREROUTING's `-i` sees; else eth0, assumed."""
    fib = getattr(stack, "fib", None)
    if fib is None or fib.assumed:
        return "eth0", ("no --in-iface, --routes or --addrs given: assumed the packet arrives on eth0 (a local "
                        "pod's packet arrives on its host-side interface, e.g. cni0 or its cali* veth: give "
                        "--in-iface or the node's routes)")
    back = fib.lookup(src)
    if back.failure or back.local or not back.out_iface:
        return "eth0", f"the node's routes lead nowhere back to {src}: assumed the packet arrives on eth0"
    return back.out_iface, None


def _warnings(text: str, ruleset) -> list[str]:
    found = dump_warnings(text)
    unreached = unreached_chains(ruleset)
    if unreached and all(not c.rules for t in ruleset.tables.values() for c in t.chains.values() if c.builtin):
        found.append(f"no built-in chain jumps to any of the {len(unreached)} user chains "
                     f"({', '.join(unreached[:3])}{', ...' if len(unreached) > 3 else ''}), so no packet reaches "
                     f"them: if this is a restore payload, the jumps into them are installed separately (kube-proxy "
                     f"adds its PREROUTING/OUTPUT jumps outside its payload); use the node's whole `iptables-save` "
                     f"(or `kplab rules --form save`)")
    return found


def run(args) -> int:
    text = _read(args.dump, "rules file")
    ruleset = parse_ruleset(text, source=args.dump)
    ipsets = IPSets()
    for path in getattr(args, "ipset", []) or []:
        ipsets = ipsets.merge(parse_ipsets(_read(path, "ipset file"), source=path))
    src = _address(args.src, "--src")
    dst = _address(args.dst, "--dst")
    if ipaddress.ip_address(src).version != ipaddress.ip_address(dst).version:
        raise KplabError(f"--src {src} and --dst {dst}: one packet has one address family (IPv4 or IPv6)")
    if args.in_iface is not None and not 1 <= len(args.in_iface) <= 15:
        raise KplabError(f"--in-iface {args.in_iface[:20]!r}: an interface name has 1 to 15 characters")
    local_ips = [_address(ip, "--local-ip") for ip in args.local_ip] + ["127.0.0.1", "::1"]
    if not 0 <= args.dport <= 65535:
        raise KplabError(f"--dport: {args.dport} is not a port")
    sport = args.sport if args.sport is not None else DEFAULT_SPORT
    protocol = args.protocol or "tcp"
    if protocol == "icmp" and ":" in dst:
        protocol = "icmpv6"
    has_ports = protocol in ("tcp", "udp", "sctp")
    packet = Packet(src, dst, protocol, sport if has_ports else None, args.dport if has_ports else None)
    fib = _fib(args, local_ips)
    localnet = getattr(args, "route_localnet", None)
    route_localnet = localnet == "1" if localnet is not None else localnet_rule(ruleset) is not None
    stack = node_stack(ruleset, local_ips, ipsets, fib=fib, route_localnet=route_localnet)
    # --in-iface (other than lo) says the packet came in from outside, even from an address the node owns
    arrives = True if args.in_iface and args.in_iface != "lo" else None
    in_iface, assumption = (args.in_iface, None) if args.in_iface else _in_iface(stack, src)
    outcomes = trace_first_packet(stack, packet, in_iface, arrives)
    data = report(outcomes, stack)
    if assumption and data["in_iface"] is not None:
        data["in_iface_assumption"] = assumption
    data["warnings"] = _warnings(text, ruleset)
    if args.json:
        for warning in data["warnings"]:
            print(f"kplab: warning: {warning}", file=sys.stderr)
        print(json.dumps(data, indent=2))
    else:
        print(text_report(outcomes, data))
    return 0
