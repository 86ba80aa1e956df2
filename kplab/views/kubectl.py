"""kubectl-style tables of a Cluster's objects: the `kubectl get KIND -o wide --all-namespaces` columns as text.

The same rows feed `pods_frame(cluster)` and friends, pandas DataFrames for the notebooks (pandas is imported
only when a frame is asked for).
"""
from __future__ import annotations

from typing import Callable

from kplab.k8s.cluster import Cluster
from kplab.k8s.resource import canonical_kind

Rows = tuple[list[str], list[list[str]]]

def _selector(selector: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) if selector else "<none>"


def service_ports(svc) -> str:
    """PORT(S) as kubectl prints it: `80/TCP`, `80:31380/TCP`, comma-separated; `<none>` when there are none."""
    if not svc.ports:
        return "<none>"
    return ",".join(f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
                    for p in svc.ports)


def external_ip(svc) -> str:
    if svc.type == "ExternalName":
        return svc.external_name or "<none>"
    addresses = [i.ip or i.hostname for i in svc.load_balancer_ingress] + list(svc.external_ips)
    if addresses:
        return ",".join(addresses)
    return "<pending>" if svc.type == "LoadBalancer" else "<none>"


def pod_rows(cluster: Cluster) -> Rows:
    headers = ["NAMESPACE", "NAME", "READY", "STATUS", "IP", "NODE"]
    rows = []
    for p in sorted(cluster.pods.values(), key=lambda p: p.key):
        status = "Terminating" if p.terminating else p.phase
        rows.append([p.namespace, p.name, "1/1" if p.ready and p.phase == "Running" else "0/1", status,
                     p.ip or "<none>", p.node_name or "<none>"])
    return headers, rows


def service_rows(cluster: Cluster) -> Rows:
    headers = ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "SELECTOR"]
    rows = []
    for s in sorted(cluster.services.values(), key=lambda s: s.key):
        rows.append([s.namespace, s.name, s.type, s.cluster_ip or "<none>", external_ip(s), service_ports(s),
                     _selector(s.selector)])
    return headers, rows


def endpointslice_rows(cluster: Cluster) -> Rows:
    headers = ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS"]
    rows = []
    for s in sorted(cluster.endpointslices.values(), key=lambda s: s.key):
        ports = ",".join(str(p.port) for p in s.ports if p.port is not None) or "<unset>"
        addresses = [a for e in s.endpoints for a in e.addresses]
        shown = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
        rows.append([s.namespace, s.name, s.address_type, ports, shown or "<none>"])
    return headers, rows


def node_rows(cluster: Cluster) -> Rows:
    headers = ["NAME", "STATUS", "ROLES", "INTERNAL-IP", "EXTERNAL-IP", "POD-CIDR"]
    rows = []
    for n in cluster.nodes.values():
        roles = ",".join(sorted(k.split("/", 1)[1] for k in n.labels
                                if k.startswith("node-role.kubernetes.io/"))) or "<none>"
        external = ",".join(a.address for a in n.addresses if a.type == "ExternalIP") or "<none>"
        rows.append([n.name, "Ready" if n.ready else "NotReady", roles, n.internal_ip or "<none>", external,
                     n.pod_cidr or "<none>"])
    return headers, rows


def networkpolicy_rows(cluster: Cluster) -> Rows:
    headers = ["NAMESPACE", "NAME", "POD-SELECTOR"]
    rows = []
    for p in sorted(cluster.networkpolicies.values(), key=lambda p: p.key):
        sel = p.spec.get("podSelector") or {}
        parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
        for e in sel.get("matchExpressions") or []:
            values = ",".join(str(v) for v in e.get("values") or [])
            parts.append(f"{e.get('key')} {e.get('operator')} ({values})" if values else
                         f"{e.get('key')} {e.get('operator')}")
        rows.append([p.namespace, p.name, ",".join(parts) or "<none>"])
    return headers, rows


def namespace_rows(cluster: Cluster) -> Rows:
    return ["NAME", "STATUS"], [[n.name, "Active"] for n in sorted(cluster.namespaces.values(), key=lambda n: n.name)]


ROWS: dict[str, Callable[[Cluster], Rows]] = {
    "pods": pod_rows, "services": service_rows, "endpointslices": endpointslice_rows, "nodes": node_rows,
    "networkpolicies": networkpolicy_rows, "namespaces": namespace_rows,
}


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns left-aligned, three spaces apart, as kubectl prints them."""
    if not rows:
        return "No resources found"
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["   ".join(str(cell).ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines)


def table(kind: str, cluster: Cluster) -> str:
    return format_table(*ROWS[canonical_kind(kind)](cluster))


def _frame(rows: Rows):
    import pandas as pd

    headers, data = rows
    return pd.DataFrame(data, columns=headers)


def pods_frame(cluster: Cluster):
    """Pods as a DataFrame (the `kplab get pods` columns)."""
    return _frame(pod_rows(cluster))


def services_frame(cluster: Cluster):
    """Services as a DataFrame (the `kplab get services` columns)."""
    return _frame(service_rows(cluster))


def endpointslices_frame(cluster: Cluster):
    return _frame(endpointslice_rows(cluster))


def nodes_frame(cluster: Cluster):
    return _frame(node_rows(cluster))


def networkpolicies_frame(cluster: Cluster):
    return _frame(networkpolicy_rows(cluster))
