"""Cluster: every object kplab knows, after allocation (IPs, node ports) and the endpoints controller ran."""
from __future__ import annotations

from dataclasses import dataclass, field

from kplab.k8s.endpointslice import EndpointSlice
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node
from kplab.k8s.pod import Pod
from kplab.k8s.service import Service
from kplab.k8s.settings import ClusterSettings, ProxySettings


@dataclass
class Cluster:
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    pods: dict[str, Pod] = field(default_factory=dict)  # key "ns/name"
    services: dict[str, Service] = field(default_factory=dict)  # key "ns/name"
    endpointslices: dict[str, EndpointSlice] = field(default_factory=dict)  # key "ns/name"
    networkpolicies: dict[str, NetworkPolicy] = field(default_factory=dict)  # key "ns/name"
    settings: ClusterSettings = field(default_factory=ClusterSettings)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    warnings: list[str] = field(default_factory=list)

    def slices_for(self, service: Service) -> list[EndpointSlice]:
        """The EndpointSlices labelled for this Service, in name order."""
        return sorted(
            (s for s in self.endpointslices.values()
             if s.namespace == service.namespace and s.service_name == service.name),
            key=lambda s: s.name,
        )
