"""Cluster-wide settings from kubeadm's ClusterConfiguration and kube-proxy's KubeProxyConfiguration."""
from __future__ import annotations

from dataclasses import dataclass, field

from kplab.k8s.revision import Tracked


@dataclass
class ClusterSettings(Tracked):
    pod_subnet: str = "10.244.0.0/16"
    node_cidr_mask: int = 24
    service_subnet: str = "10.96.0.0/12"
    dns_domain: str = "cluster.local"
    node_port_range: tuple[int, int] = (30000, 32767)
    cni: str = "bridge"  # the pod network's plumbing: "bridge" (cni0 + veths, flannel-style) or "calico" (cali* + /32 routes)
    overlay: str | None = None  # between nodes: None (plain routes), "vxlan" or "ipip"


@dataclass
class ProxySettings(Tracked):
    """KubeProxyConfiguration fields kplab models (iptables mode)."""

    mode: str = "iptables"
    cluster_cidr: str | None = None  # defaults to the pod subnet
    masquerade_bit: int = 14
    masquerade_all: bool = False
    node_port_addresses: list[str] = field(default_factory=list)  # empty = all local addresses
    detect_local_mode: str = "ClusterCIDR"  # or NodeCIDR, BridgeInterface, InterfaceNamePrefix, "" (none)
    bridge_interface: str = ""  # detectLocal.bridgeInterface (BridgeInterface mode): pods' traffic comes in by it
    interface_name_prefix: str = ""  # detectLocal.interfaceNamePrefix (InterfaceNamePrefix mode): pods' veths
    localhost_node_ports: bool = True
    random_fully: bool = False
    large_cluster_endpoints_threshold: int = 1000
    nfacct: bool = False  # kube-proxy's nfacct counters (present on newer kernels / in its tests)
    conntrack_tcp_be_liberal: bool = False  # nf_conntrack_tcp_be_liberal != 0 drops kube-proxy's INVALID-drop rule
    sync_period: float = 30.0  # seconds; in large clusters stale chains are removed at most once per period

    @property
    def masquerade_mark(self) -> str:
        return hex(1 << self.masquerade_bit)
