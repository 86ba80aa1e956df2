"""`kplab reach MANIFEST... [--from SRC] [--to DST] [--port N] [--protocol P] [--json]`: NetworkPolicy verdicts."""
from __future__ import annotations

import json
import sys

from kplab.cni.reach import reach_table, table_records
from kplab.cni.selection import PolicySelection
from kplab.cni.verdict import normalise_protocol, resolve_endpoint, resolve_endpoints
from kplab.errors import KplabError
from kplab.k8s import load_cluster
from kplab.views.reach import reach_text


def _frames(cluster, args, selection) -> list:
    protocol = normalise_protocol(args.protocol)
    outside = [x for x in (args.src, args.dst) if x and resolve_endpoint(cluster, x).kind != "pod"]
    if args.port is not None:
        return [reach_table(cluster, args.port, protocol, src=args.src, dst=args.dst, outside=outside,
                            reasons=True, selection=selection)]
    # No --port: probe each destination pod on the ports it declares (80/<protocol> when it declares none).
    targets = [e.text for e in resolve_endpoints(cluster, args.dst)] if args.dst else [p.key for p in selection.pods] + outside
    groups: dict[tuple[int, str], list[str]] = {}
    for t in targets:
        end = resolve_endpoint(cluster, t)
        declared = {(cp.port, cp.protocol.upper()) for cp in end.pod.ports} if end.pod else set()
        for key in sorted(declared) or [(80, protocol)]:
            groups.setdefault(key, []).append(t)
    return [reach_table(cluster, port, proto, src=args.src, dst=dsts, outside=outside, reasons=True,
                        selection=selection) for (port, proto), dsts in sorted(groups.items())]


def run(args) -> int:
    cluster = load_cluster(*args.manifests)
    selection = PolicySelection.build(cluster)
    frames = [f for f in _frames(cluster, args, selection) if len(f)]
    records = [r for f in frames for r in table_records(f)]
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not records:
        raise KplabError("no pairs to show: the manifests hold fewer than two endpoints for --from/--to")
    print(reach_text(records))
    return 0
