"""ProxierConfig: the settings one node's kube-proxy runs with, resolved from the cluster for one IP family."""
from __future__ import annotations

from dataclasses import dataclass

from kplab.errors import KplabError
from kplab.k8s.cluster import Cluster
from kplab.kubeproxy.address import canonical_cidr, canonical_ip, cidr_contains, family_of

NO_DETECTOR_MODES = ("", "None", "NoOp")


@dataclass(frozen=True)
class ProxierConfig:
    node_name: str
    family: str  # "IPv4" or "IPv6"
    node_ips: tuple[str, ...]  # this family's node addresses, the primary (InternalIP) first
    local_cidr: str | None  # the local-traffic detector: pod traffic is `-s local_cidr`; None = no detector
    local_iface: str | None = None  # ... or `-i local_iface` (BridgeInterface: cni0; InterfaceNamePrefix: azv+)
    masquerade_all: bool = False
    mark: str = "0x4000"
    localhost_node_ports: bool = True  # effective value: IPv4 only
    node_port_addresses: tuple[str, ...] = ()  # () = every local address ("--dst-type LOCAL")
    random_fully: bool = False
    tcp_be_liberal: bool = False
    nfacct: bool = False
    large_cluster_threshold: int = 1000
    sync_period: float = 30.0

    @property
    def if_local(self) -> str | None:
        """The detector's "from a local pod" match, as kube-proxy's LocalTrafficDetector.IfLocal writes it
        (`-s CIDR`, `-i cni0`, `-i azv+`); None when there is no detector."""
        if self.local_cidr:
            return f"-s {self.local_cidr}"
        return f"-i {self.local_iface}" if self.local_iface else None

    @property
    def if_not_local(self) -> str | None:
        """IfNotLocal: `! -s CIDR`, `! -i cni0`, `! -i azv+`."""
        local = self.if_local
        return f"! {local}" if local else None

    @property
    def primary_ip(self) -> str | None:
        return self.node_ips[0] if self.node_ips else None

    @property
    def loopback(self) -> str:
        return "::1" if self.family == "IPv6" else "127.0.0.1"

    @property
    def local_ips(self) -> tuple[str, ...]:
        """Addresses the node owns (what `--src-type/--dst-type LOCAL` matches) in this family."""
        return (self.loopback, *self.node_ips)

    @property
    def node_ports_match_all(self) -> bool:
        return not self.node_port_addresses

    def node_port_ips(self) -> list[str]:
        """With nodePortAddresses set: the local addresses NodePorts answer on (loopback only when
        localhost node ports are on)."""
        ips = []
        for ip in self.local_ips:
            if ip == self.loopback and (self.family == "IPv6" or not self.localhost_node_ports):
                continue
            if any(cidr_contains(c, ip) for c in self.node_port_addresses):
                ips.append(ip)
        return ips

    @classmethod
    def from_cluster(cls, cluster: Cluster, node_name: str, family: str | None = None) -> "ProxierConfig":
        node = cluster.nodes.get(node_name)
        if node is None:
            raise KplabError(f'node "{node_name}" not found (nodes: {", ".join(cluster.nodes) or "none"})')
        addrs = [a for a in node.addresses if a.type in ("InternalIP", "ExternalIP")]
        addrs.sort(key=lambda a: a.type != "InternalIP")  # stable: InternalIPs first
        if family is None:
            family = family_of(addrs[0].address) if addrs else "IPv4"
        node_ips = tuple(dict.fromkeys(canonical_ip(a.address) for a in addrs if family_of(a.address) == family))
        proxy = cluster.proxy
        local_cidr = local_iface = None
        if proxy.detect_local_mode == "ClusterCIDR":
            cidrs = proxy.cluster_cidr if proxy.cluster_cidr is not None else cluster.settings.pod_subnet
            for c in (cidrs or "").split(","):
                if c.strip() and family_of(c) == family:
                    local_cidr = canonical_cidr(c)
                    break
        elif proxy.detect_local_mode == "NodeCIDR":
            if node.pod_cidr and family_of(node.pod_cidr) == family:
                local_cidr = canonical_cidr(node.pod_cidr)
        elif proxy.detect_local_mode == "BridgeInterface":  # NewDetectLocalByBridgeInterface
            local_iface = proxy.bridge_interface
        elif proxy.detect_local_mode == "InterfaceNamePrefix":  # NewDetectLocalByInterfaceNamePrefix: `-i PREFIX+`
            local_iface = proxy.interface_name_prefix + "+"
        elif proxy.detect_local_mode not in NO_DETECTOR_MODES:
            raise KplabError(f"KubeProxyConfiguration detectLocalMode {proxy.detect_local_mode!r} is not one of "
                             "ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix")
        npa = tuple(canonical_cidr(c) for c in proxy.node_port_addresses if family_of(c) == family)
        if any(c in ("0.0.0.0/0", "::/0") for c in npa):
            npa = ()
        return cls(
            node_name=node_name, family=family, node_ips=node_ips, local_cidr=local_cidr, local_iface=local_iface,
            masquerade_all=proxy.masquerade_all, mark=proxy.masquerade_mark,
            localhost_node_ports=proxy.localhost_node_ports and family == "IPv4",
            node_port_addresses=npa, random_fully=proxy.random_fully,
            tcp_be_liberal=proxy.conntrack_tcp_be_liberal, nfacct=proxy.nfacct,
            large_cluster_threshold=proxy.large_cluster_endpoints_threshold, sync_period=proxy.sync_period,
        )
