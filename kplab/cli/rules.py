"""`kplab rules MANIFEST... --node NAME [--layout current|v1.19] [--form restore|save|list] [--table T] [--chain C]`.

Forms: `save` (the default) is the node's whole rule set as `iptables-save` prints it on a live node, the form
`trace-rules` walks; `restore` is what kube-proxy hands to iptables-restore (its first, full sync), without the
jumps from the built-in chains that kube-proxy installs separately; `list` is `iptables -t TABLE -L [CHAIN] -n`.
"""
from __future__ import annotations

import sys

from kplab.cli import load
from kplab.kubeproxy.kubeproxy import node_rules
from kplab.views.listing import list_rules


def run(args) -> int:
    cluster = load(args.manifests)
    if args.form == "list":
        saved = node_rules(cluster, args.node, layout=args.layout, form="save")
        text = list_rules(saved, table=getattr(args, "table", None) or "nat", chain=getattr(args, "chain", None))
    else:
        text = node_rules(cluster, args.node, layout=args.layout, form=args.form)
    sys.stdout.write(text)
    return 0
