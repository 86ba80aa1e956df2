"""`kplab lab up|trace|compare|down`: the real-kernel lab (Linux, root).

    kplab lab up MANIFEST... [--cni bridge|calico] [--overlay none|vxlan|ipip]
    kplab lab trace --from SRC --to DST [--port N] [--protocol tcp|udp] [--json]
    kplab lab compare --from SRC --to DST [--port N] [--protocol tcp|udp] [--tries N] [--html FILE]
    kplab lab down

`up` builds the namespaces and loads the rules, then leaves them up (a state file in /run/kplab names the lab
and its manifests); `trace` and `compare` attach to it, start the servers for the length of the command, open
real connections and print; `down` removes everything. SRC and DST are named as for `kplab trace`.
"""
from __future__ import annotations

import json

from kplab.errors import KplabError


def add_parser(sub) -> None:
    lab = sub.add_parser("lab", help="the same cluster in real network namespaces (Linux, root)")
    verbs = lab.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="build the cluster's data plane in kpl- network namespaces")
    up.add_argument("manifests", nargs="+")
    up.add_argument("--cni", choices=["bridge", "calico"], help="pod plumbing (default: the cluster's settings)")
    up.add_argument("--overlay", choices=["none", "vxlan", "ipip"], help="between nodes (default: the cluster's)")
    for name, text in (("trace", "one real connection, traced by the kernel"),
                       ("compare", "the kernel's trace next to kplab's, hop by hop")):
        v = verbs.add_parser(name, help=text)
        v.add_argument("--from", dest="src", required=True, help="a pod (ns/name), node name or outside IP")
        v.add_argument("--to", dest="dst", required=True, help="as for kplab trace: svc/NAME, ns/pod, IP, NODE:PORT")
        v.add_argument("--port", type=int)
        v.add_argument("--protocol", type=str.lower, choices=["tcp", "udp"], default="tcp")
        v.add_argument("--lab", help="which lab (its id from `kplab lab up`; default: the only one)")
        if name == "trace":
            v.add_argument("--json", action="store_true", help="the kernel's Trace as JSON (the Trace contract)")
        else:
            v.add_argument("--tries", type=int, default=1, help="real connections to make (outcome counts)")
            v.add_argument("--html", metavar="FILE",
                           help="also write the side-by-side player (kplab's walk and the kernel's, hop by hop)")
    down = verbs.add_parser("down", help="remove the lab (every kpl- namespace it made)")
    down.add_argument("--lab", help="which lab (default: every lab `kplab lab up` made)")


def run(args) -> int:
    from kplab import lab as kernel_lab
    if args.verb == "up":
        return _up(args, kernel_lab)
    if args.verb == "down":
        return _down(args)
    return _use(args)


def _options(args) -> dict:
    options = {}
    if getattr(args, "cni", None):
        options["cni"] = args.cni
    if getattr(args, "overlay", None):
        options["overlay"] = None if args.overlay == "none" else args.overlay
    return options


def _up(args, kernel_lab) -> int:
    from kplab.k8s import load_cluster
    from kplab.lab.state import save
    problems = kernel_lab.check()
    if problems:
        raise KplabError("kplab lab: " + "; ".join(problems))
    options = _options(args)
    cluster = load_cluster(*args.manifests)
    lab = kernel_lab.Lab(cluster, **options)
    lab.start(serve=False)
    state = save(lab, args.manifests, options)
    lab.detach()
    print(f"lab {state.id} is up: {len(lab.names)} namespaces ({lab.built.counts.get('nodes', 0)} nodes, "
          f"{lab.built.counts.get('pods', 0)} pods) named {lab.prefix}*")
    for note in lab.notes:
        print(f"note: {note}")
    print(f"clients: {lab.clients[0]} beyond the router" + "".join(f", {c} on the node network" for c in lab.clients[1:])
          + f"; try: kplab lab compare --from {lab.clients[0]} --to ...")
    return 0


def _down(args) -> int:
    from kplab.lab.state import remove
    removed = remove(args.lab)
    if not removed:
        print("no lab is up")
    for lab_id, names in removed:
        print(f"lab {lab_id} removed ({names} namespaces)")
    return 0


def _use(args) -> int:
    from kplab.lab.state import attach
    from kplab.walk.address import resolve_destination, resolve_source
    from kplab import _endpoint  # the front door's kubectl-style names (svc/NAME, deploy/NAME, node/NAME ...)
    with attach(args.lab) as lab:
        src, _ = _endpoint(lab.cluster, args.src, "source", None)
        dst, _ = _endpoint(lab.cluster, args.dst, "destination", args.port)
        source = resolve_source(lab.cluster, lab.topology, src)
        target = resolve_destination(lab.cluster, lab.topology, dst, args.port, args.protocol, source.namespace)
        if target.port is None:
            raise KplabError(f"--to {args.dst}: give --port")
        if args.verb == "trace":
            kernel = lab.trace(source.host, target.ip, target.port, args.protocol, label=(args.src, args.dst))
            if args.json:
                print(json.dumps(kernel.to_dict(), indent=2, sort_keys=True))
            else:
                print(kernel)
            return 0
        from kplab.views.labcompare import side_by_side
        simulated, kernel, verdict = lab.side_by_side(source.host, target.ip, target.port, args.protocol,
                                                      tries=max(1, args.tries), label=(args.src, args.dst))
        print(f"{args.src} -> {args.dst} ({target.ip}:{target.port}/{args.protocol})")
        print(side_by_side(simulated, kernel))
        if args.html:
            from pathlib import Path
            from kplab.views.player import play, write_atomically
            try:
                write_atomically(Path(args.html), play(simulated, compare=kernel, verdict=verdict).html)
            except KplabError as e:
                raise KplabError(f"--html {e}") from None
            print(f"wrote {args.html}: the side-by-side player")
        print()
        print(verdict)
        for note in lab.notes:
            print(f"note: {note}")
    return 0
