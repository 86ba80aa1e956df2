"""The `kplab` command: parse arguments, call the package, print a view. One module per subcommand
(`get`, `rules`, `trace`, `trace_rules`, `reach`), each with `run(args) -> int`; user mistakes exit 1 without a
traceback."""
from __future__ import annotations

import argparse
import sys

from kplab.errors import KplabError


def _port(low: int):
    """An argparse type: a port number from `low` (0 where the kernel takes port 0, else 1) to 65535."""
    def port(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= 65535:
            raise argparse.ArgumentTypeError(f"{value} is not a port ({low}-65535)")
        return value
    return port


def _text(text: str) -> str:
    """An argparse type: a non-empty word (a name, an address)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty")
    return text


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: a seed is 0 or more")
    return value


def load(manifests: list[str]):
    """The cluster from the manifests, with what loading skipped or assumed printed to stderr (every command that
    reads manifests says the same)."""
    from kplab.k8s import load_cluster

    cluster = load_cluster(*manifests)
    for w in cluster.warnings:
        print(f"Warning: {w}", file=sys.stderr)
    return cluster


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kplab", description="How a packet travels through Kubernetes.")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("get", help="kubectl-style table of objects from manifests")
    g.add_argument("kind", type=_text, help="pods, services, endpointslices, nodes or networkpolicies")
    g.add_argument("manifests", nargs="+", help="manifest files or folders (YAML)")
    g.add_argument("-o", "--output", choices=["wide", "yaml", "json"], default="wide",
                   help="wide (default): a kubectl-style table; yaml or json: the objects")

    r = sub.add_parser("rules", help="a node's rules as kube-proxy writes them")
    r.add_argument("manifests", nargs="+", help="manifest files or folders (YAML)")
    r.add_argument("--node", required=True, type=_text, help="the node whose rules to print")
    r.add_argument("--layout", choices=["current", "v1.19"], default="current",
                   help="kube-proxy's rule layout: today's (default) or the v1.19 one")
    r.add_argument("--form", choices=["restore", "save", "list"], default="save",
                   help="save (default): the node's whole rule set as iptables-save prints it, which trace-rules "
                        "walks; restore: kube-proxy's iptables-restore payload (without the jumps from the "
                        "built-in chains, which kube-proxy installs separately); list: iptables -L -n")
    r.add_argument("--table", choices=["filter", "nat", "mangle"], default="nat", help="table for --form list")
    r.add_argument("--chain", help="only this chain (--form list)")

    t = sub.add_parser("trace", help="a packet's walk across the cluster")
    t.add_argument("manifests", nargs="+", help="manifest files or folders (YAML)")
    t.add_argument("--from", dest="src", required=True, type=_text,
                   help="the client: [NS/]pod/NAME, deploy/NAME, node/NAME, NS/NAME or an IP")
    t.add_argument("--to", dest="dst", required=True, type=_text,
                   help="the destination: [NS/]svc/NAME, [NS/]pod/NAME, NS/NAME, a DNS name, an IP, NODE:NODEPORT")
    t.add_argument("--port", type=_port(1), help="the destination port (default: the Service's or pod's first port)")
    t.add_argument("--protocol", type=str.lower, choices=["tcp", "udp", "sctp"], default="tcp", help="default tcp")
    t.add_argument("--seed", type=_seed, default=0, help="picks the branch of random choices shown (default 0)")
    t.add_argument("--reply", action="store_true", help="walk the answer back too")
    t.add_argument("--json", action="store_true", help="print the Trace as JSON (its JSON Schema is in kplab/walk)")
    t.add_argument("--html", type=_text, help="write the animated player to this file (stdout then says only where)")
    t.add_argument("--cni", choices=["bridge", "calico"], help="pod plumbing (default: the cluster's settings)")
    t.add_argument("--overlay", choices=["none", "vxlan", "ipip"], help="between nodes (default: the cluster's settings)")

    tr = sub.add_parser("trace-rules", help="one packet through one node's iptables-save rules")
    tr.add_argument("dump", help="the node's `iptables-save` output (a file)")
    tr.add_argument("--src", required=True, type=_text, help="the packet's source address")
    tr.add_argument("--dst", required=True, type=_text, help="the packet's destination address")
    tr.add_argument("--dport", type=_port(0), required=True, help="the destination port")
    tr.add_argument("--sport", type=_port(1), help="the source port (default 40000)")
    tr.add_argument("--protocol", type=str.lower, choices=["tcp", "udp", "sctp", "icmp"], default="tcp", help="default tcp")
    tr.add_argument("--local-ip", action="append", default=[],
                    help="an address the node owns (repeat); a packet from one is sent by the node itself")
    tr.add_argument("--in-iface", help="the interface the packet arrives on (default: the one the node's route back "
                                       "to the source leaves by; without routes eth0, said as an assumption)")
    tr.add_argument("--ipset", action="append", default=[], help="`ipset save` or `ipset list` output (a file)")
    tr.add_argument("--addrs", help="the node's `ip -o addr` output (a file): interfaces and connected routes")
    tr.add_argument("--routes", help="the node's `ip route` output (a file)")
    tr.add_argument("--addr", action="append", default=[], metavar="'IFACE IP/PREFIX'",
                    help="one more interface address, e.g. 'docker0 172.17.0.1/16' (repeat)")
    tr.add_argument("--route", action="append", default=[], metavar="'ROUTE'",
                    help="one more `ip route` line, e.g. '10.244.1.0/24 via 192.0.2.32 dev eth0' (repeat)")
    tr.add_argument("--route-localnet", choices=["0", "1"],
                    help="net.ipv4.conf.all.route_localnet (default: 1 when the dump holds the anti-martian rule "
                         "kube-proxy adds with it, else the kernel's 0)")
    tr.add_argument("--json", action="store_true", help="print JSON (verdict, endpoints, out_iface, snat, "
                                                        "decided_by, ...)")

    re_ = sub.add_parser("reach", help="NetworkPolicy verdicts as a truth table")
    re_.add_argument("manifests", nargs="+", help="manifest files or folders (YAML)")
    re_.add_argument("--from", dest="src", type=_text, help="only from this pod, workload, namespace/name or address")
    re_.add_argument("--to", dest="dst", type=_text, help="only to this pod, workload, namespace/name or address")
    re_.add_argument("--port", type=_port(1), help="the port (default: each destination pod's declared ports)")
    re_.add_argument("--protocol", type=str.upper, choices=["TCP", "UDP", "SCTP"], default="TCP",
                     help="default TCP")
    re_.add_argument("--json", action="store_true", help="print the rows as JSON")
    from kplab.cli.lab import add_parser as add_lab
    add_lab(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "get":
            from kplab.cli.get import run
        elif args.command == "rules":
            from kplab.cli.rules import run
        elif args.command == "trace":
            from kplab.cli.trace import run
        elif args.command == "trace-rules":
            from kplab.cli.trace_rules import run
        elif args.command == "reach":
            from kplab.cli.reach import run
        elif args.command == "lab":
            from kplab.cli.lab import run
        else:  # pragma: no cover - argparse refuses unknown commands
            raise KplabError(f"unknown command {args.command}")
        return run(args) or 0
    except KplabError as e:
        print(f"kplab: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
