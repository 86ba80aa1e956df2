"""Scheduling: nodeName wins, nodeSelector filters, otherwise the node with the fewest pods (node order on ties)."""
from __future__ import annotations

from kplab.k8s import Cluster, Node, NodeAddress, Pod
from kplab.k8s.scheduler import schedule


def nodes(*names: str, ready: bool = True) -> list[Node]:
    return [Node(n, labels={"kubernetes.io/hostname": n, "disk": "ssd" if i == 0 else "hdd"},
                 addresses=[NodeAddress("InternalIP", f"10.0.0.{i + 2}")], pod_cidr=f"10.244.{i}.0/24", ready=ready)
            for i, n in enumerate(names)]


def test_spread_by_fewest_pods_ties_by_node_order():
    ns = nodes("a", "b", "c")
    pods = [Pod("default", f"p{i}") for i in range(5)] + [Pod("default", "pinned", node_name="c")]
    assert schedule(pods, ns) == []
    assert [p.node_name for p in pods] == ["a", "b", "a", "b", "c", "c"]


def test_node_selector_and_unschedulable_warning():
    ns = nodes("a", "b")
    fits = Pod("default", "fast", node_selector={"disk": "ssd"})
    nowhere = Pod("default", "gpu", node_selector={"gpu": "yes"})
    warnings = schedule([fits, nowhere], ns)
    assert fits.node_name == "a"
    assert nowhere.node_name is None
    assert warnings == ['pod "default/gpu" stays Pending: 0/2 nodes are available: 2 node(s) didn\'t match '
                        "Pod's node affinity/selector."]


def test_not_ready_nodes_are_skipped():
    ns = nodes("a") + [Node("b", ready=False, addresses=[NodeAddress("InternalIP", "10.0.0.9")],
                            pod_cidr="10.244.9.0/24")]
    pods = [Pod("default", "x"), Pod("default", "y")]
    schedule(pods, ns)
    assert [p.node_name for p in pods] == ["a", "a"]


def test_pending_pod_has_no_ip_and_endpoints_skip_it():
    c = Cluster.from_objects(nodes=nodes("a"), pods=[Pod("default", "gpu", labels={"app": "x"},
                                                         node_selector={"gpu": "yes"})])
    assert c.pod("gpu").ip is None and c.pod("gpu").phase == "Pending"
    assert any("stays Pending" in w for w in c.warnings)
