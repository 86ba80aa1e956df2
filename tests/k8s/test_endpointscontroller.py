"""The endpoints controller: conditions, per-pod named ports, given slices, placeholders."""
from __future__ import annotations

from kplab.k8s import (Cluster, ContainerPort, Endpoint, EndpointPort, EndpointSlice, Node, NodeAddress, Pod, Service,
                       ServicePort)

NODE = Node("n", addresses=[NodeAddress("InternalIP", "10.0.0.2")], pod_cidr="10.244.0.0/24")


def web(name: str, port: int = 8080, **kw) -> Pod:
    return Pod("default", name, labels={"app": "web"}, node_name="n", ports=[ContainerPort(port, "http")], **kw)


def endpoints(c: Cluster, svc: str) -> list[tuple]:
    return sorted((e.target_ref, tuple(e.addresses), e.ready, e.serving, e.terminating, tuple((p.name, p.port)
                   for p in s.ports)) for s in c.slices_for(c.service(svc)) for e in s.endpoints)


def test_ready_serving_terminating():
    pods = [web("a"), web("b", ready=False), web("c", terminating=True)]
    c = Cluster.from_objects(nodes=[NODE], pods=pods,
                             services=[Service("default", "web", selector={"app": "web"},
                                               ports=[ServicePort(80, target_port="http")])])
    got = [(ref, ready, serving, term) for ref, _, ready, serving, term, _ in endpoints(c, "web")]
    assert got == [("default/a", True, True, False), ("default/b", False, False, False),
                   ("default/c", False, True, True)]


def test_publish_not_ready_addresses():
    c = Cluster.from_objects(nodes=[NODE], pods=[web("b", ready=False)],
                             services=[Service("default", "web", selector={"app": "web"}, cluster_ip="None",
                                               publish_not_ready_addresses=True, ports=[ServicePort(80)])])
    assert [(r, s) for _, _, r, s, _, _ in endpoints(c, "web")] == [(True, True)]


def test_named_target_port_resolved_per_pod():
    pods = [web("a", 8080), web("b", 9090), Pod("default", "nameless", labels={"app": "web"}, node_name="n")]
    c = Cluster.from_objects(nodes=[NODE], pods=pods, services=[
        Service("default", "web", selector={"app": "web"}, ports=[ServicePort(80, name="h", target_port="http")])])
    slices = c.slices_for(c.service("web"))
    by_port = sorted(([p.port for p in s.ports], [e.target_ref for e in s.endpoints]) for s in slices)
    assert by_port == [([], ["default/nameless"]), ([8080], ["default/a"]), ([9090], ["default/b"])]
    assert all(s.name.startswith("web-") and len(s.name) == len("web-") + 5 for s in slices)


def test_selector_matches_namespace_and_all_labels():
    other_ns = Pod("shop", "x", labels={"app": "web"}, node_name="n")
    partial = Pod("default", "y", labels={"app": "web"}, node_name="n")
    full = Pod("default", "z", labels={"app": "web", "tier": "fe"}, node_name="n")
    c = Cluster.from_objects(nodes=[NODE], pods=[other_ns, partial, full], services=[
        Service("default", "fe", selector={"app": "web", "tier": "fe"}, ports=[ServicePort(80)])])
    assert [ref for ref, *_ in endpoints(c, "fe")] == ["default/z"]


def test_placeholder_slice_when_nothing_matches():
    c = Cluster.from_objects(nodes=[NODE], services=[Service("default", "lonely", selector={"app": "none"},
                                                              ports=[ServicePort(80)])])
    (s,) = c.slices_for(c.service("lonely"))
    assert s.endpoints == [] and s.managed_by == "endpointslice-controller.k8s.io"


def test_selector_less_service_uses_given_slices_only():
    given = EndpointSlice("default", "ext-1", "ext", endpoints=[Endpoint(["192.0.2.5"], ready=True)],
                          ports=[EndpointPort(5432)])
    c = Cluster.from_objects(nodes=[NODE], pods=[web("a")], endpointslices=[given],
                             services=[Service("default", "ext", ports=[ServicePort(5432)])])
    assert [s.name for s in c.slices_for(c.service("ext"))] == ["ext-1"]
    assert c.service("ext").selector is None


def test_controller_made_slices_given_are_taken_as_current_state():
    given = EndpointSlice("default", "web-abcde", "web", endpoints=[Endpoint(["10.244.0.77"], ready=True)],
                          ports=[EndpointPort(8080)], managed_by="endpointslice-controller.k8s.io")
    c = Cluster.from_objects(nodes=[NODE], pods=[web("a")], endpointslices=[given], services=[
        Service("default", "web", selector={"app": "web"}, ports=[ServicePort(80, target_port=8080)])])
    assert [s.name for s in c.slices_for(c.service("web"))] == ["web-abcde"]


def test_statefulset_hostnames_in_headless_endpoints(write):
    from kplab.k8s import load_cluster
    from pathlib import Path

    c = load_cluster(Path(__file__).resolve().parents[2] / "data" / "headless")
    hosts = sorted(e.hostname for s in c.slices_for(c.service("db")) for e in s.endpoints)
    assert hosts == ["db-0", "db-1"]
    assert all(e.hostname is None for s in c.slices_for(c.service("webapp-hs")) for e in s.endpoints)
