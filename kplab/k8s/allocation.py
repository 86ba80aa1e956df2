"""Address allocation as the control plane does it: node pod CIDRs, pod IPs, Service ClusterIPs and NodePorts.

Kubernetes draws free ClusterIPs and NodePorts at random; kplab takes the lowest free one instead, so every run gives
the same answer. Like Kubernetes (ServiceIPStaticSubrange, ServiceNodePortStaticSubrange), dynamic allocation starts
above a low band reserved for values users pick by hand — that is why `kube-dns` can always claim 10.96.0.10 — and
only dips into the band when the upper part is full. Values given in the manifests are reserved first, then the rest
allocated in manifest order, so a hand-picked value never collides with an allocated one.

Pod IPs come from the pod's node's podCIDR, skipping the network address, `.1` (the node's bridge / gateway address
in a bridge CNI) and the broadcast address.
"""
from __future__ import annotations

import ipaddress

from kplab.k8s.apistatus import internal_error
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import Pod
from kplab.k8s.service import (Service, cluster_ip_out_of_range, cluster_ip_taken, node_port_out_of_range,
                               node_port_taken)
from kplab.k8s.settings import ClusterSettings


def static_band(size: int, step: int, low: int, high: int) -> int:
    """Size of the low band kept for hand-picked values: size/step, clamped to [low, high] (Kubernetes' formula)."""
    if size < low:
        return 0
    return max(low, min(high, size // step))


def allocate_node_addresses(nodes: list[Node], settings: ClusterSettings) -> None:
    """Give nodes without a podCIDR the next free /node_cidr_mask block of the pod subnet (as kube-controller-manager's
    range allocator does, in node order), and nodes without an InternalIP the next free address in the nodes' /24."""
    pod_subnet = ipaddress.ip_network(settings.pod_subnet, strict=False)
    used = {ipaddress.ip_network(n.pod_cidr, strict=False) for n in nodes if n.pod_cidr}
    blocks = pod_subnet.subnets(new_prefix=settings.node_cidr_mask) if settings.node_cidr_mask >= pod_subnet.prefixlen \
        else iter(())
    for node in nodes:
        if node.pod_cidr:
            continue
        for block in blocks:
            if not any(block.overlaps(u) for u in used):
                node.pod_cidr = str(block)
                used.add(block)
                break
        else:
            raise internal_error(f"failed to allocate a podCIDR for node \"{node.name}\": "
                                 f"the pod subnet {settings.pod_subnet} is full", node.source)
    ips = [ipaddress.ip_address(n.internal_ip) for n in nodes if n.internal_ip]
    network = ipaddress.ip_network(f"{ips[0]}/24", strict=False) if ips else ipaddress.ip_network("192.168.49.0/24")
    taken = set(ips)
    free = (ip for ip in network.hosts() if int(ip) - int(network.network_address) >= 2 and ip not in taken)
    for node in nodes:
        if not node.internal_ip:
            node.addresses.insert(0, NodeAddress("InternalIP", str(next(free))))


def allocate_pod_ips(pods: list[Pod], nodes: list[Node]) -> list[str]:
    """Fill in `ip` for scheduled pods without one; returns warnings (a full podCIDR leaves the pod Pending)."""
    warnings: list[str] = []
    by_name = {n.name: n for n in nodes}
    taken: dict[str, str] = {}
    for pod in pods:
        if pod.ip and not pod.host_network:
            if pod.ip in taken:
                warnings.append(f'pods "{taken[pod.ip]}" and "{pod.key}" both claim IP {pod.ip}')
            taken[pod.ip] = pod.key
    free: dict[str, object] = {}
    for pod in pods:
        node = by_name.get(pod.node_name or "")
        if node is None or pod.ip:
            continue
        if pod.host_network:
            pod.ip = node.internal_ip
            continue
        if node.name not in free:
            free[node.name] = _pod_addresses(node.pod_cidr)
        for ip in free[node.name]:
            if ip not in taken:
                pod.ip = ip
                taken[ip] = pod.key
                break
        else:
            warnings.append(f'pod "{pod.key}" stays Pending: no free address in node "{node.name}" podCIDR '
                            f"{node.pod_cidr}")
    return warnings


def _pod_addresses(cidr: str):
    """A node's pod addresses in order: not the network address, not .1 (the bridge/gateway), not broadcast."""
    net = ipaddress.ip_network(cidr, strict=False)
    first = int(net.network_address) + 2
    return (str(ip) for ip in net.hosts() if int(ip) >= first)


class _Range:
    """A range of integers (IPs as ints, or ports) with a low static band; lowest-free allocation from above it."""

    def __init__(self, first: int, last: int, band: int):
        self.first, self.last, self.band = first, last, band
        self.used: set[int] = set()
        self.scanned = 0  # values of the allocation order known taken: each next_free goes on from there

    def contains(self, value: int) -> bool:
        return self.first <= value <= self.last

    def next_free(self) -> int | None:
        """The lowest free value above the band, then in the band. Linear over all calls: values are only taken,
        never given back, so the ones already passed stay taken and the search goes on from where it stopped."""
        above = max(0, self.last - self.first - self.band + 1)
        total = self.last - self.first + 1
        while self.scanned < total:
            i = self.scanned
            value = self.first + self.band + i if i < above else self.first + (i - above)
            self.scanned += 1
            if value not in self.used:
                self.used.add(value)
                return value
        return None


def allocate_services(services: list[Service], settings: ClusterSettings) -> None:
    """ClusterIPs, NodePorts and healthCheckNodePorts, refusing taken or out-of-range values with the API's words."""
    net = ipaddress.ip_network(settings.service_subnet, strict=False)
    base = int(net.network_address)
    last = int(net.broadcast_address) - 1 if net.version == 4 else int(net.broadcast_address)
    size = last - base
    ips = _Range(base + 1, last, static_band(size, 16, 16, 256))
    low, high = settings.node_port_range
    ports = _Range(low, high, static_band(high - low + 1, 32, 16, 128))
    port_owner: dict[int, tuple[str, set[str]]] = {}  # nodePort -> (service key, protocols)

    def has_cluster_ip(s: Service) -> bool:
        return s.type != "ExternalName" and not s.headless

    def wants_node_ports(s: Service) -> bool:
        return s.type == "NodePort" or (s.type == "LoadBalancer" and s.allocate_load_balancer_node_ports)

    def reserve_port(s: Service, path: str, port: int, protocol: str) -> None:
        if not ports.contains(port):
            raise node_port_out_of_range(s, path, port, settings.node_port_range)
        owner = port_owner.get(port)
        if owner and (owner[0] != s.key or protocol in owner[1]):
            raise node_port_taken(s, path, port)
        port_owner.setdefault(port, (s.key, set()))[1].add(protocol)
        ports.used.add(port)

    # 1. values chosen by hand
    for s in services:
        if has_cluster_ip(s) and s.cluster_ip:
            value = int(ipaddress.ip_address(s.cluster_ip))
            if ipaddress.ip_address(s.cluster_ip) not in net or not ips.contains(value):
                raise cluster_ip_out_of_range(s, s.cluster_ip, str(net))
            if value in ips.used:
                raise cluster_ip_taken(s, s.cluster_ip)
            ips.used.add(value)
        if wants_node_ports(s):
            for i, p in enumerate(s.ports):
                if p.node_port:
                    reserve_port(s, f"spec.ports[{i}].nodePort", p.node_port, p.protocol)
        if s.health_check_node_port:
            reserve_port(s, "spec.healthCheckNodePort", s.health_check_node_port, "TCP")
    # 2. the rest, in manifest order
    for s in services:
        if has_cluster_ip(s) and not s.cluster_ip:
            value = ips.next_free()
            if value is None:
                raise internal_error("failed to allocate a serviceIP: range is full", s.source)
            s.cluster_ip = str(ipaddress.ip_address(value))
        if wants_node_ports(s):
            for p in s.ports:
                if not p.node_port:
                    value = ports.next_free()
                    if value is None:
                        raise internal_error("failed to allocate a nodePort: range is full", s.source)
                    p.node_port = value
                    port_owner[value] = (s.key, {p.protocol})
        if s.type == "LoadBalancer" and s.external_traffic_policy == "Local" and not s.health_check_node_port:
            value = ports.next_free()
            if value is None:
                raise internal_error("failed to allocate a nodePort: range is full", s.source)
            s.health_check_node_port = value
