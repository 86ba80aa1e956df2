"""A small three-node cluster built straight from the dataclasses (no loader), shared by the trace tests.

node-1 runs the client and one web pod, node-2 the other web pod, node-3 no web pod — so
externalTrafficPolicy Local has a node without a local endpoint to drop on.
"""
from __future__ import annotations

import pytest

from kplab.k8s.cluster import Cluster
from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.namespace import Namespace
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import ContainerPort, Pod
from kplab.k8s.service import LoadBalancerIngress, Service, ServicePort

NODES = {"node-1": ("192.168.1.11", "10.244.1.0/24"), "node-2": ("192.168.1.12", "10.244.2.0/24"),
         "node-3": ("192.168.1.13", "10.244.3.0/24")}
PODS = {"client": ("node-1", "10.244.1.5", {"app": "client"}),
        "web-a": ("node-1", "10.244.1.10", {"app": "web"}),
        "web-b": ("node-2", "10.244.2.10", {"app": "web"})}


def _slice(name: str, service: str, pods: list[str], port: int = 8080) -> EndpointSlice:
    eps = [Endpoint(addresses=[PODS[p][1]], ready=True, node_name=PODS[p][0], target_ref=f"default/{p}")
           for p in pods]
    return EndpointSlice("default", name, service, endpoints=eps, ports=[EndpointPort(port, "TCP", "")])


def build_cluster() -> Cluster:
    nodes = {n: Node(n, addresses=[NodeAddress("InternalIP", ip)], pod_cidr=cidr) for n, (ip, cidr) in NODES.items()}
    pods = {f"default/{n}": Pod("default", n, labels=labels, node_name=node, ip=ip,
                                ports=[ContainerPort(8080)] if labels["app"] == "web" else [])
            for n, (node, ip, labels) in PODS.items()}
    web = {"app": "web"}
    services = [
        Service("default", "web", cluster_ip="10.96.0.10", selector=web,
                ports=[ServicePort(80, target_port=8080)]),
        Service("default", "web-np", type="NodePort", cluster_ip="10.96.0.11", selector=web,
                external_traffic_policy="Cluster", ports=[ServicePort(80, target_port=8080, node_port=30080)]),
        Service("default", "web-local", type="NodePort", cluster_ip="10.96.0.12", selector=web,
                external_traffic_policy="Local", ports=[ServicePort(80, target_port=8080, node_port=30081)]),
        Service("default", "web-lb", type="LoadBalancer", cluster_ip="10.96.0.13", selector=web,
                external_traffic_policy="Local", health_check_node_port=32000,
                load_balancer_ingress=[LoadBalancerIngress(ip="203.0.113.100")],
                ports=[ServicePort(80, target_port=8080, node_port=30082)]),
        Service("default", "web-ext", cluster_ip="10.96.0.14", selector=web, external_ips=["198.51.100.50"],
                ports=[ServicePort(80, target_port=8080)]),
        Service("default", "empty", cluster_ip="10.96.0.20", selector={"app": "nothing"},
                ports=[ServicePort(80, target_port=8080)]),
        Service("default", "web-headless", cluster_ip="None", selector=web,
                ports=[ServicePort(8080, target_port=8080)]),
        Service("default", "ext", type="ExternalName", external_name="db.example.com"),
        Service("default", "only-a", cluster_ip="10.96.0.21", selector=None,
                ports=[ServicePort(80, target_port=8080)]),
    ]
    slices = {}
    for svc in services:
        if svc.type == "ExternalName":
            continue
        members = {"empty": [], "only-a": ["web-a"]}.get(svc.name, ["web-a", "web-b"])
        s = _slice(f"{svc.name}-abc", svc.name, members)
        slices[f"default/{s.name}"] = s
    return Cluster(namespaces={"default": Namespace("default")}, nodes=nodes, pods=pods,
                   services={s.key: s for s in services}, endpointslices=slices)


@pytest.fixture
def cluster() -> Cluster:
    return build_cluster()
