"""What every cluster has before you apply anything: nodes, `default/kubernetes` and the cluster DNS.

- No Node in the manifests: the article's two-node minikube cluster (docker driver): `minikube` at 192.168.49.2 with
  podCIDR 10.244.0.0/24 (the control plane) and `minikube-m02` at 192.168.49.3 with 10.244.1.0/24.
- `default/kubernetes`: the API server's own Service at the first address of the service subnet (10.96.0.1), port
  443 named https, its EndpointSlice pointing at the control-plane node (port 8443 on minikube, 6443 elsewhere).
- Unless the manifests define `kube-system/kube-dns`: that Service at the tenth address (10.96.0.10, the address
  kubeadm and minikube give it), ports 53/UDP `dns`, 53/TCP `dns-tcp`, 9153/TCP `metrics`, selecting
  `k8s-app=kube-dns`, and the `coredns` Deployment behind it (1 replica on the default minikube cluster as minikube
  runs it, 2 as kubeadm does otherwise).
"""
from __future__ import annotations

import ipaddress

from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.service import Service, ServicePort
from kplab.k8s.settings import ClusterSettings
from kplab.k8s.workload import Workload

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def default_nodes() -> list[Node]:
    common = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    return [
        Node("minikube", labels={**common, "kubernetes.io/hostname": "minikube", CONTROL_PLANE_LABEL: "",
                                 "minikube.k8s.io/primary": "true"},
             addresses=[NodeAddress("InternalIP", "192.168.49.2"), NodeAddress("Hostname", "minikube")],
             pod_cidr="10.244.0.0/24", source="<default minikube cluster>"),
        Node("minikube-m02", labels={**common, "kubernetes.io/hostname": "minikube-m02",
                                     "minikube.k8s.io/primary": "false"},
             addresses=[NodeAddress("InternalIP", "192.168.49.3"), NodeAddress("Hostname", "minikube-m02")],
             pod_cidr="10.244.1.0/24", source="<default minikube cluster>"),
    ]


def is_minikube(nodes: list[Node]) -> bool:
    return any(n.labels.get("minikube.k8s.io/primary") == "true" for n in nodes)


def control_plane(nodes: list[Node]) -> Node | None:
    for n in nodes:
        if CONTROL_PLANE_LABEL in n.labels or "node-role.kubernetes.io/master" in n.labels:
            return n
    return nodes[0] if nodes else None


def nth_service_ip(settings: ClusterSettings, n: int) -> str:
    net = ipaddress.ip_network(settings.service_subnet, strict=False)
    return str(net.network_address + n)


def kubernetes_service(settings: ClusterSettings, nodes: list[Node]) -> tuple[Service, EndpointSlice]:
    port = 8443 if is_minikube(nodes) else 6443
    svc = Service("default", "kubernetes", cluster_ip=nth_service_ip(settings, 1),
                  ports=[ServicePort(443, "TCP", "https", port)], selector=None,
                  labels={"component": "apiserver", "provider": "kubernetes"}, source="<kube-apiserver>")
    cp = control_plane(nodes)
    endpoints = [Endpoint([cp.internal_ip], ready=True)] if cp and cp.internal_ip else []
    eps = EndpointSlice("default", "kubernetes", "kubernetes", endpoints=endpoints,
                        ports=[EndpointPort(port, "TCP", "https")], source="<kube-apiserver>")
    return svc, eps


def cluster_dns(settings: ClusterSettings, nodes: list[Node]) -> tuple[Service, Workload]:
    labels = {"k8s-app": "kube-dns"}
    svc = Service("kube-system", "kube-dns", cluster_ip=nth_service_ip(settings, 10),
                  ports=[ServicePort(53, "UDP", "dns", 53), ServicePort(53, "TCP", "dns-tcp", 53),
                         ServicePort(9153, "TCP", "metrics", 9153)],
                  selector=dict(labels), labels={**labels, "kubernetes.io/name": "CoreDNS"}, source="<cluster DNS>")
    template = {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{
        "name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.1",
        "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                  {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                  {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}]}]}}
    coredns = Workload("Deployment", "kube-system", "coredns", selector={"matchLabels": dict(labels)},
                       template=template, replicas=1 if is_minikube(nodes) else 2, source="<cluster DNS>")
    return svc, coredns
