"""The Cluster API others build on: direct construction, from_objects, lookups with clear errors."""
from __future__ import annotations

import pytest

from kplab.errors import KplabError
from kplab.k8s import Cluster, Node, NodeAddress, Pod, Service, ServicePort


def test_direct_construction_runs_nothing():
    svc = Service("default", "s", cluster_ip="10.0.0.1", ports=[ServicePort(80)])
    c = Cluster(services={svc.key: svc})
    assert c.service("s") is svc and c.pods == {} and c.endpointslices == {}


def test_from_objects_adds_nothing_without_defaults():
    c = Cluster.from_objects(services=[Service("default", "s", ports=[ServicePort(80)])])
    assert list(c.services) == ["default/s"] and c.nodes == {}
    assert c.namespaces["default"].labels == {"kubernetes.io/metadata.name": "default"}


def test_from_objects_accepts_dicts_and_defaults():
    node = Node("w1", addresses=[NodeAddress("InternalIP", "10.1.0.5")])
    c = Cluster.from_objects(nodes={"w1": node}, pods=[Pod("default", "p")], defaults=True)
    assert c.pod("p").node_name == "w1" and c.pod("p").ip == "10.244.0.4"  # two coredns pods took .2, .3
    assert c.service("kubernetes").ports[0].target_port == 6443  # not minikube
    assert len([p for p in c.pods.values() if p.namespace == "kube-system"]) == 2  # kubeadm's coredns replicas


def test_lookups_and_their_errors():
    node = Node("n", addresses=[NodeAddress("InternalIP", "10.0.0.2")], pod_cidr="10.244.0.0/24")
    c = Cluster.from_objects(nodes=[node], pods=[Pod("shop", "a", node_name="n"), Pod("default", "b",
                                                                                       node_name="n")])
    assert c.node_ip("n") == "10.0.0.2"
    assert [p.key for p in c.pods_on("n")] == ["default/b", "shop/a"]
    assert c.pod("b") is c.pod("default/b")
    assert c.pod_by_ip(c.pod("shop/a").ip) is c.pod("shop/a")
    with pytest.raises(KplabError, match='pod "default/x" not found'):
        c.pod("x")
    with pytest.raises(KplabError, match='service "shop/web" not found'):
        c.service("shop/web")
    with pytest.raises(KplabError, match='node "m" not found'):
        c.node_ip("m")
    with pytest.raises(KplabError, match='node "m" not found'):
        c.pods_on("m")
