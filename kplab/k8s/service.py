"""Service: the virtual IP and ports kube-proxy turns into rules."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServicePort:
    port: int
    protocol: str = "TCP"
    name: str = ""
    target_port: int | str | None = None  # number, a container port name, or None (= port)
    node_port: int = 0


@dataclass
class LoadBalancerIngress:
    ip: str = ""
    hostname: str = ""
    ip_mode: str | None = None  # "VIP" or "Proxy"


@dataclass
class Service:
    namespace: str
    name: str
    type: str = "ClusterIP"  # ClusterIP, NodePort, LoadBalancer, ExternalName
    cluster_ip: str | None = None  # "None" for headless
    ports: list[ServicePort] = field(default_factory=list)
    selector: dict[str, str] | None = None  # None: no selector (EndpointSlices given by hand)
    external_traffic_policy: str | None = None  # "Cluster" or "Local"
    internal_traffic_policy: str | None = None
    external_ips: list[str] = field(default_factory=list)
    external_name: str | None = None
    session_affinity: str = "None"  # or "ClientIP"
    session_affinity_timeout: int | None = None  # seconds; API default 10800 for ClientIP
    load_balancer_source_ranges: list[str] = field(default_factory=list)
    load_balancer_ingress: list[LoadBalancerIngress] = field(default_factory=list)
    health_check_node_port: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None"
