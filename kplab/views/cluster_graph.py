"""A first picture of the cluster: nodes as boxes holding their pods, Services pointing at the pods behind them.

The graph (networkx) is built from the Cluster alone; drawing it (matplotlib) is a separate step, so other views
can reuse the graph.
"""
from __future__ import annotations

import networkx as nx

from kplab.k8s.cluster import Cluster


def cluster_graph(cluster: Cluster, namespaces: list[str] | None = None) -> nx.DiGraph:
    """Nodes, pods and Services as graph vertices ("node:<name>", "pod:<ns/name>", "svc:<ns/name>"), with edges
    node -> pod (runs on) and Service -> pod (endpoint)."""
    wanted = set(namespaces) if namespaces else None
    g = nx.DiGraph()
    for node in cluster.nodes.values():
        g.add_node(f"node:{node.name}", kind="node", label=f"{node.name}\n{node.internal_ip}\n{node.pod_cidr}")
    for pod in cluster.pods.values():
        if wanted and pod.namespace not in wanted:
            continue
        g.add_node(f"pod:{pod.key}", kind="pod", label=f"{pod.name}\n{pod.ip or 'Pending'}", node=pod.node_name)
        if pod.node_name in cluster.nodes:
            g.add_edge(f"node:{pod.node_name}", f"pod:{pod.key}", kind="runs")
    by_ip = {p.ip: p for p in cluster.pods.values() if p.ip and not p.host_network}
    for svc in cluster.services.values():
        if wanted and svc.namespace not in wanted:
            continue
        ip = svc.cluster_ip if svc.cluster_ip and not svc.headless else svc.type if not svc.headless else "headless"
        g.add_node(f"svc:{svc.key}", kind="service", label=f"{svc.name}\n{ip}")
        for eps in cluster.slices_for(svc):
            for ep in eps.endpoints:
                for address in ep.addresses:
                    pod = by_ip.get(address)
                    if pod is not None and g.has_node(f"pod:{pod.key}"):
                        g.add_edge(f"svc:{svc.key}", f"pod:{pod.key}", kind="endpoint")
    return g


def _layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Cluster nodes side by side, their pods stacked under them, Services in a row on top."""
    pos: dict[str, tuple[float, float]] = {}
    machines = [n for n, d in g.nodes(data=True) if d["kind"] == "node"]
    for i, m in enumerate(machines):
        x = i * 4.0
        pos[m] = (x, 0.0)
        pods = sorted(g.successors(m))
        for j, p in enumerate(pods):
            pos[p] = (x, -1.6 - 1.1 * j)
    stray = [n for n, d in g.nodes(data=True) if d["kind"] == "pod" and n not in pos]
    for j, p in enumerate(stray):
        pos[p] = (len(machines) * 4.0, -1.6 - 1.1 * j)
    services = sorted(n for n, d in g.nodes(data=True) if d["kind"] == "service")
    width = max(1, len(machines) - 1) * 4.0
    for k, s in enumerate(services):
        pos[s] = (width * k / max(1, len(services) - 1) if len(services) > 1 else width / 2, 2.2)
    return pos


def draw_cluster(cluster: Cluster, namespaces: list[str] | None = None, ax=None):
    """Draw the cluster with matplotlib; returns the Axes. Namespaces default to all."""
    import matplotlib.pyplot as plt

    g = cluster_graph(cluster, namespaces)
    pos = _layout(g)
    if ax is None:
        rows = max([len(list(g.successors(n))) for n, d in g.nodes(data=True) if d["kind"] == "node"] or [1])
        _, ax = plt.subplots(figsize=(4 + 3.2 * max(1, len(cluster.nodes)), 4 + 1.0 * rows))
    styles = {"node": ("#dbe9f6", "s", 5200), "pod": ("#e3f3e0", "o", 2600), "service": ("#fde9c9", "D", 2600)}
    for kind, (color, shape, size) in styles.items():
        members = [n for n, d in g.nodes(data=True) if d["kind"] == kind]
        nx.draw_networkx_nodes(g, pos, nodelist=members, node_color=color, node_shape=shape, node_size=size,
                               edgecolors="#555555", ax=ax)
    runs = [(u, v) for u, v, d in g.edges(data=True) if d["kind"] == "runs"]
    endpoints = [(u, v) for u, v, d in g.edges(data=True) if d["kind"] == "endpoint"]
    nx.draw_networkx_edges(g, pos, edgelist=runs, edge_color="#9bb7d4", arrows=False, ax=ax)
    nx.draw_networkx_edges(g, pos, edgelist=endpoints, edge_color="#d9902f", style="dashed", arrows=True,
                           connectionstyle="arc3,rad=0.08", ax=ax)
    nx.draw_networkx_labels(g, pos, labels={n: d["label"] for n, d in g.nodes(data=True)}, font_size=7, ax=ax)
    ax.set_title("Nodes (squares) run pods (circles); Services (diamonds) send to their endpoints (dashed)")
    ax.margins(0.12)
    ax.set_axis_off()
    return ax
