"""`kplab rules MANIFEST... --node NAME [--layout current|v1.19] [--form restore|save|list] [--table T] [--chain C]`.

Forms: `restore` is what kube-proxy hands to iptables-restore (its first, full sync); `save` is the node's whole
rule set as `iptables-save` prints it on a live node (the kernel's option order, /32 masks, %.11f probabilities);
`list` is `iptables -t TABLE -L [CHAIN] -n`.
"""
from __future__ import annotations

import sys

from kplab.kubeproxy.kubeproxy import KubeProxy


def rules_text(cluster, node: str, layout: str = "current", form: str = "restore", table: str = "nat",
               chain: str | None = None) -> str:
    kp = KubeProxy(cluster, node, layout)
    result = kp.sync()
    if form == "restore":
        return result.payload
    from kplab.netfilter import parse_ruleset
    saved = parse_ruleset(kp.ruleset_text(), source=f"node {node}").save()
    if form == "save":
        return saved
    from kplab.kubeproxy.listing import list_rules
    return list_rules(saved, table=table, chain=chain)


def run_rules(args) -> int:
    from kplab.k8s import load_cluster
    cluster = load_cluster(*args.manifests)
    text = rules_text(cluster, args.node, layout=args.layout, form=args.form,
                      table=getattr(args, "table", None) or "nat", chain=getattr(args, "chain", None))
    sys.stdout.write(text)
    return 0
