"""`kplab get KIND MANIFEST... [-o wide|yaml|json]`: kubectl-style tables (all namespaces) or the List document."""
from __future__ import annotations

import json

import yaml

from kplab.cli import load
from kplab.k8s.resource import canonical_kind, list_document
from kplab.views.kubectl import table


def run(args) -> int:
    kind = canonical_kind(args.kind)
    cluster = load(args.manifests)
    output = getattr(args, "output", "wide") or "wide"
    if output == "json":
        text = json.dumps(list_document(kind, cluster), indent=4)
    elif output == "yaml":
        text = yaml.safe_dump(list_document(kind, cluster), sort_keys=False, default_flow_style=False).rstrip()
    else:
        text = table(kind, cluster)
    print(text)
    return 0
