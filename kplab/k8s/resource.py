"""Resource kinds as kubectl names them (`pods`, `po`, `svc`, ...) and a Cluster's objects of one kind as the API
server's `kind: List` document (what `kubectl get KIND -o yaml|json` prints)."""
from __future__ import annotations

from kplab.errors import KplabError
from kplab.k8s import document
from kplab.k8s.cluster import Cluster

KIND_ALIASES = {
    "pods": ("pod", "pods", "po"),
    "services": ("service", "services", "svc"),
    "endpointslices": ("endpointslice", "endpointslices"),
    "nodes": ("node", "nodes", "no"),
    "networkpolicies": ("networkpolicy", "networkpolicies", "netpol"),
    "namespaces": ("namespace", "namespaces", "ns"),
}


def canonical_kind(kind: str) -> str:
    """The plural name of a kind from any of kubectl's spellings, any case; KplabError (kubectl's words) otherwise."""
    for name, aliases in KIND_ALIASES.items():
        if kind.lower() in aliases:
            return name
    raise KplabError(f'the server doesn\'t have a resource type "{kind}" '
                     f"(kplab knows: {', '.join(KIND_ALIASES)})")


def list_document(kind: str, cluster: Cluster) -> dict:
    """`{"apiVersion": "v1", "kind": "List", "items": [...]}` of every object of `kind`, sorted by namespace/name."""
    kind = canonical_kind(kind)
    if kind == "pods":
        items = [document.pod_doc(p, cluster) for p in sorted(cluster.pods.values(), key=lambda p: p.key)]
    elif kind == "services":
        items = [document.service_doc(s) for s in sorted(cluster.services.values(), key=lambda s: s.key)]
    elif kind == "endpointslices":
        items = [document.endpointslice_doc(s) for s in sorted(cluster.endpointslices.values(), key=lambda s: s.key)]
    elif kind == "nodes":
        items = [document.node_doc(n) for n in cluster.nodes.values()]
    elif kind == "networkpolicies":
        items = [document.networkpolicy_doc(p) for p in sorted(cluster.networkpolicies.values(),
                                                                key=lambda p: p.key)]
    else:
        items = [document.namespace_doc(n) for n in sorted(cluster.namespaces.values(), key=lambda n: n.name)]
    return document.list_doc(items)
