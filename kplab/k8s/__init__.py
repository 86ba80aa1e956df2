"""kplab.k8s: Kubernetes objects and cluster state from manifests.

    from kplab.k8s import load_cluster
    cluster = load_cluster("data/article")       # files or folders, multi-document YAML, kind: List
    cluster.pods, cluster.services, cluster.endpointslices ...

`Cluster(...)` can also be built directly from the dataclasses, or with `Cluster.from_objects(...)` to run the
control plane (validation, workload controllers, scheduling, allocation, endpoints controller) on them.
"""
from kplab.k8s.cluster import Cluster
from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.manifest import find_data_dir, load_cluster, read_manifests
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import ContainerPort, Pod
from kplab.k8s.service import LoadBalancerIngress, Service, ServicePort
from kplab.k8s.settings import ClusterSettings, ProxySettings
from kplab.k8s.workload import Workload

__all__ = [
    "Cluster", "ClusterSettings", "ContainerPort", "Endpoint", "EndpointPort", "EndpointSlice", "LoadBalancerIngress",
    "Namespace", "NetworkPolicy", "Node", "NodeAddress", "Pod", "ProxySettings", "Service", "ServicePort", "Workload",
    "find_data_dir", "load_cluster", "read_manifests",
]
