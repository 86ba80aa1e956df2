"""Topology: the hosts and links built from a cluster, like a small Mininet topo.

Pods get eth0 and a default route to their node. Nodes get eth0 with the node IP on one
underlay LAN and the pod side either as a bridge `cni0` with veths (flannel/bridge style) or
as Calico-style `cali*` veths with /32 routes. Other nodes' pod CIDRs are reached by plain
routes via the node IP, or through a VXLAN or IP-in-IP device. A router joins the LAN to the
outside world and a load balancer holds one route per LoadBalancer IP whose next hops are the
nodes passing the health check.

Outside hosts exist only where something names them: the client or server a trace was asked to
use, or an EndpointSlice address outside the cluster networks. Any other address (a ClusterIP
that no rule translated, an unused address) has no owner: a packet to it leaves by the router's
default route and nobody answers.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass, field

from kplab.cni.caliconame import interface_name
from kplab.errors import KplabError
from kplab.walk.address import is_ipv4
from kplab.walk.host import Host
from kplab.walk.interface import Interface
from kplab.walk.route import Nexthop, RouteEntry

CNIS = ("bridge", "calico")
OVERLAYS = (None, "vxlan", "ipip")
ROUTER = "router"
LOAD_BALANCER = "load-balancer"
CALICO_GATEWAY = "169.254.1.1"  # Calico's fixed link-local next hop inside every pod
OUTSIDE_GATEWAY = "169.254.0.1"  # an outside host's gateway: the router's link-scope address on its wan side
VXLAN_PORT = 4789  # Calico's VXLAN port; flannel uses 8472
FLANNEL_VXLAN_PORT = 8472
VXLAN_VNI = {"bridge": 1, "calico": 4096}  # flannel's VNI (its device flannel.1 is named after it); Calico's default
VXLAN_MTU = 1450  # a 1500-byte node network less VXLAN's 50 bytes (flannel's and Calico's choice)
IPIP_MTU = 1480  # less the 20-byte outer IP header (Calico's tunl0)


@dataclass
class Neighbour:
    """Where a packet leaving (host, interface) towards a next hop arrives."""

    host: str
    iface: str
    port: str | None = None  # the bridge port (veth) it really crossed, for the listing
    tunnel: tuple[str, str, str, int] | None = None  # (kind, outer src, outer dst, outer dport/proto)


@dataclass
class Topology:
    hosts: dict[str, Host] = field(default_factory=dict)
    cni: str = "bridge"
    overlay: str | None = None
    underlay: str = ""  # the node LAN, e.g. 192.168.1.0/24
    lan: dict[str, str] = field(default_factory=dict)  # underlay address -> host (the ARP table)
    pod_ips: dict[str, str] = field(default_factory=dict)  # pod IP -> pod host
    node_cidrs: dict[str, str] = field(default_factory=dict)  # node -> pod CIDR
    node_ips: dict[str, str] = field(default_factory=dict)  # node -> node IP
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = ""  # ClusterIPs are virtual: no host owns them, only rules translate them
    bridge_ports: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (node, bridge) -> pod IP -> pod

    # ---- building -------------------------------------------------------------------------
    @classmethod
    def from_cluster(cls, cluster, cni: str | None = None, overlay: str | None = "auto",
                     ip_forward: dict[str, bool] | None = None) -> "Topology":
        settings = cluster.settings
        cni = cni or settings.cni
        if overlay == "auto":
            overlay = settings.overlay
        if cni not in CNIS:
            raise KplabError(f"topology: unknown CNI style {cni!r} (one of {', '.join(CNIS)})")
        if overlay not in OVERLAYS:
            raise KplabError(f"topology: unknown overlay {overlay!r} (none, vxlan or ipip)")
        topo = cls(cni=cni, overlay=overlay, pod_cidr=settings.pod_subnet,
                   service_cidr=getattr(settings, "service_subnet", "") or "")
        forward = ip_forward or {}
        nodes = sorted(cluster.nodes.values(), key=lambda n: n.name)
        for node in nodes:
            ip = node.internal_ip
            if not ip:
                raise KplabError(f"node {node.name}: no InternalIP address, so it cannot be placed on the network")
            topo.node_ips[node.name] = ip
        topo.underlay = _underlay(list(topo.node_ips.values()))
        for node in nodes:
            topo.node_cidrs[node.name] = _pod_cidr(cluster, node)
        for node in nodes:
            topo._add_node(node, forward.get(node.name, getattr(node, "ip_forward", True)))
        for pod in sorted(cluster.pods.values(), key=lambda p: p.key):
            if pod.host_network or not pod.ip or pod.node_name not in topo.hosts:
                continue
            topo._add_pod(pod)
        topo._add_router(cluster)
        topo._add_load_balancer(cluster)
        topo._add_endpoint_hosts(cluster)
        return topo

    def _add_endpoint_hosts(self, cluster) -> None:
        """EndpointSlice addresses outside the cluster networks (a selectorless Service pointing at a database
        outside) are hosts someone runs, so they answer like any explicitly named outside host."""
        for eps in sorted(getattr(cluster, "endpointslices", {}).values(), key=lambda e: (e.namespace, e.name)):
            for ep in eps.endpoints:
                for ip in ep.addresses:
                    if is_ipv4(ip) and self.is_outside(ip):
                        self.outside_host(ip)

    def _free_lan_address(self, avoid: set[str]) -> str:
        net = ipaddress.ip_network(self.underlay)
        taken = set(self.lan) | avoid | set(self.node_ips.values())
        for host in net.hosts():
            if str(host) not in taken:
                return str(host)
        raise KplabError(f"topology: no free address on the node network {self.underlay}")

    def _add_node(self, node, forwarding: bool) -> None:
        ip = self.node_ips[node.name]
        prefix = ipaddress.ip_network(self.underlay).prefixlen
        host = Host(name=node.name, kind="node", ip_forward=forwarding, node=node.name)
        host.add_interface(Interface("eth0", "ethernet", [f"{ip}/{prefix}"]))
        host.routes.add(RouteEntry(self.underlay, dev="eth0", proto="kernel", scope="link", src=ip))
        self.lan[ip] = node.name
        cidr = self.node_cidrs.get(node.name)
        if cidr:
            net = ipaddress.ip_network(cidr)
            if self.cni == "bridge":
                gw = str(net.network_address + 1)
                host.add_interface(Interface("cni0", "bridge", [f"{gw}/{net.prefixlen}"]))
                host.routes.add(RouteEntry(cidr, dev="cni0", proto="kernel", scope="link", src=gw))
            else:
                host.routes.add(RouteEntry(cidr, kind="blackhole", proto="bird"))
            if self.overlay == "vxlan":
                name = "flannel.1" if self.cni == "bridge" else "vxlan.calico"
                host.add_interface(Interface(name, "vxlan", [f"{net.network_address}/32"]))
            elif self.overlay == "ipip":
                host.add_interface(Interface("tunl0", "ipip", [f"{net.network_address}/32"]))
        self.hosts[node.name] = host

    def _finish_node_routes(self) -> None:
        """Routes to the other nodes' pod CIDRs (added once every node is known)."""
        for name, host in self.hosts.items():
            if host.kind != "node":
                continue
            for other, cidr in self.node_cidrs.items():
                if other == name or not cidr:
                    continue
                other_ip = self.node_ips[other]
                net = ipaddress.ip_network(cidr)
                proto = "bird" if self.cni == "calico" else None
                if self.overlay == "vxlan":
                    dev = "flannel.1" if self.cni == "bridge" else "vxlan.calico"
                    host.routes.add(RouteEntry(cidr, via=str(net.network_address), dev=dev, onlink=True, proto=proto))
                elif self.overlay == "ipip":
                    host.routes.add(RouteEntry(cidr, via=other_ip, dev="tunl0", onlink=True, proto=proto))
                else:
                    host.routes.add(RouteEntry(cidr, via=other_ip, dev="eth0", proto=proto))

    def _add_pod(self, pod) -> None:
        node = self.hosts[pod.node_name]
        cidr = self.node_cidrs.get(pod.node_name)
        host = Host(name=pod.key, kind="pod", pod=pod.key, node=pod.node_name)
        if self.cni == "bridge":
            net = ipaddress.ip_network(cidr) if cidr else ipaddress.ip_network(f"{pod.ip}/24", strict=False)
            gw = str(net.network_address + 1)
            port = "veth" + hashlib.sha1(pod.key.encode()).hexdigest()[:8]
            host.add_interface(Interface("eth0", "veth", [f"{pod.ip}/{net.prefixlen}"], peer=(node.name, port)))
            host.routes.add(RouteEntry("default", via=gw, dev="eth0"))
            host.routes.add(RouteEntry(str(net), dev="eth0", proto="kernel", scope="link", src=pod.ip))
            node.interfaces[port] = Interface(port, "bridge-port", [], master="cni0", peer=(pod.key, "eth0"))
            self.bridge_ports.setdefault((node.name, "cni0"), {})[pod.ip] = pod.key
        else:
            port = interface_name(pod)
            host.add_interface(Interface("eth0", "veth", [f"{pod.ip}/32"], peer=(node.name, port)))
            host.routes.add(RouteEntry("default", via=CALICO_GATEWAY, dev="eth0"))
            host.routes.add(RouteEntry(f"{CALICO_GATEWAY}/32", dev="eth0", scope="link"))
            node.interfaces[port] = Interface(port, "cali", [], peer=(pod.key, "eth0"))
            node.routes.add(RouteEntry(f"{pod.ip}/32", dev=port, scope="link"))
        self.hosts[pod.key] = host
        self.pod_ips[pod.ip] = pod.key

    def _add_router(self, cluster) -> None:
        self._finish_node_routes()
        gw = self._free_lan_address(set())
        prefix = ipaddress.ip_network(self.underlay).prefixlen
        router = Host(name=ROUTER, kind="router", ip_forward=True)
        router.add_interface(Interface("eth0", "ethernet", [f"{gw}/{prefix}"]))
        router.interfaces["wan"] = Interface("wan", "wan", [])
        router.routes.add(RouteEntry(self.underlay, dev="eth0", proto="kernel", scope="link", src=gw))
        self.lan[gw] = ROUTER
        self.hosts[ROUTER] = router
        for host in self.hosts.values():
            if host.kind == "node":
                host.routes.routes.insert(0, RouteEntry("default", via=gw, dev="eth0"))
                host.routes._index = None
        # externalIPs are the admin's job to route; kplab routes each one to the first node.
        first_node = next(iter(sorted(self.node_ips)), None)
        for svc in sorted(cluster.services.values(), key=lambda s: s.key):
            for eip in svc.external_ips:
                if first_node and not _on(eip, self.underlay):
                    router.routes.add(RouteEntry(f"{eip}/32", via=self.node_ips[first_node], dev="eth0",
                                                 comment=f"externalIP of {svc.key}"))
        router.routes.add(RouteEntry("default", dev="wan"))

    def _add_load_balancer(self, cluster) -> None:
        lb_services = [s for s in sorted(cluster.services.values(), key=lambda s: s.key)
                       if s.type == "LoadBalancer" and any(i.ip for i in s.load_balancer_ingress)]
        if not lb_services:
            return
        addr = self._free_lan_address(set())
        prefix = ipaddress.ip_network(self.underlay).prefixlen
        lb = Host(name=LOAD_BALANCER, kind="load-balancer", ip_forward=True)
        lb.add_interface(Interface("eth0", "ethernet", [f"{addr}/{prefix}"]))
        lb.routes.add(RouteEntry(self.underlay, dev="eth0", proto="kernel", scope="link", src=addr))
        self.lan[addr] = LOAD_BALANCER
        router = self.hosts[ROUTER]
        for svc in lb_services:
            healthy = [n for n in sorted(self.node_ips) if node_passes_health_check(cluster, svc, n)]
            for ingress in svc.load_balancer_ingress:
                if not ingress.ip:
                    continue
                dest = f"{ingress.ip}/32"
                router.routes.routes.insert(0, RouteEntry(dest, via=addr, dev="eth0", comment=f"load balancer of {svc.key}"))
                router.routes._index = None
                note = f"{svc.key}: {len(healthy)}/{len(self.node_ips)} nodes pass the health check"
                if healthy:
                    hops = tuple(Nexthop(self.node_ips[n], "eth0") for n in healthy)
                    lb.routes.add(RouteEntry(dest, nexthops=hops, comment=note))
                else:
                    lb.routes.add(RouteEntry(dest, kind="unreachable", comment=note))
        lb.routes.add(RouteEntry("default", via=self.hosts[ROUTER].address, dev="eth0"))
        self.hosts[LOAD_BALANCER] = lb

    # ---- outside hosts ----------------------------------------------------------------------
    def outside_host(self, ip: str) -> Host:
        """Model an outside host owning `ip`, behind the router's wan side (only for addresses someone named)."""
        host = self.hosts.get(ip)
        if host is None:
            host = Host(name=ip, kind="outside")
            host.add_interface(Interface("eth0", "ethernet", [f"{ip}/32"], peer=(ROUTER, "wan")))
            # a host on the internet sends everything to its gateway (the router), not ARPing for every address
            host.routes.add(RouteEntry("default", via=OUTSIDE_GATEWAY, dev="eth0", onlink=True))
            self.hosts[ip] = host
        return host

    def lan_host(self, ip: str) -> Host:
        """Model a host on the node network owning `ip` that is not a node (the minikube host, a client on an
        on-premises LAN): it reaches the nodes directly on the LAN (no router hop) and the rest by the router."""
        name = self.lan.get(ip)
        if name is not None:
            return self.hosts[name]
        prefix = ipaddress.ip_network(self.underlay).prefixlen
        host = Host(name=ip, kind="outside")
        host.add_interface(Interface("eth0", "ethernet", [f"{ip}/{prefix}"]))
        host.routes.add(RouteEntry(self.underlay, dev="eth0", proto="kernel", scope="link", src=ip))
        gateway = next((a for a, n in self.lan.items() if n == ROUTER), None)
        if gateway is not None:
            host.routes.add(RouteEntry("default", via=gateway, dev="eth0"))
        self.hosts[ip] = host
        self.lan[ip] = ip
        return host

    def is_outside(self, ip: str) -> bool:
        """True for addresses beyond the router that an outside host may own (not the node LAN, the pod
        network or the Service CIDR, whose addresses are virtual)."""
        if ip in self.lan or ip in self.pod_ips:
            return False
        if _on(ip, self.underlay) or _on(ip, self.pod_cidr) or (self.service_cidr and _on(ip, self.service_cidr)):
            return False
        return not any(ip in self.hosts[n].routes.local for n in self.node_ips)

    # ---- links ------------------------------------------------------------------------------
    def peer(self, host_name: str, iface_name: str, nexthop: str) -> Neighbour | None:
        """Where a packet sent out of (host, iface) to `nexthop` arrives; None when no neighbour answers."""
        host = self.hosts[host_name]
        iface = host.interfaces.get(iface_name)
        if iface is None:
            return None
        if iface.kind in ("veth", "cali") or (iface.kind == "ethernet" and iface.peer):
            if iface.peer is None:
                return None
            peer_host, peer_iface = iface.peer
            other = self.hosts[peer_host].interfaces[peer_iface]
            if other.kind == "bridge-port":
                return Neighbour(peer_host, other.master or "cni0", port=peer_iface)
            return Neighbour(peer_host, peer_iface)
        if iface.kind == "bridge":
            pod = self.bridge_ports.get((host_name, iface_name), {}).get(nexthop)
            return Neighbour(pod, "eth0") if pod else None
        if iface.kind == "ethernet":
            target = self.lan.get(nexthop)
            if target is None or target == host_name:
                return None
            return Neighbour(target, "eth0")
        if iface.kind == "wan":
            outside = self.hosts.get(nexthop)
            return Neighbour(outside.name, "eth0") if outside is not None and outside.kind == "outside" else None
        if iface.kind in ("vxlan", "ipip"):
            remote = self._tunnel_remote(nexthop)
            if remote is None or remote == host_name:
                return None
            outer_src, outer_dst = self.node_ips[host_name], self.node_ips[remote]
            if iface.kind == "vxlan":
                port = FLANNEL_VXLAN_PORT if self.cni == "bridge" else VXLAN_PORT
                return Neighbour(remote, iface_name, tunnel=("vxlan", outer_src, outer_dst, port))
            return Neighbour(remote, iface_name, tunnel=("ipip", outer_src, outer_dst, 4))
        return None

    def _tunnel_remote(self, nexthop: str) -> str | None:
        for node, ip in self.node_ips.items():
            if ip == nexthop:
                return node
        for node, cidr in self.node_cidrs.items():
            if cidr and _on(nexthop, cidr):
                return node
        return None

    def host_of_ip(self, ip: str) -> str | None:
        """The host that owns an address (pods, nodes, router, load balancer)."""
        if ip in self.pod_ips:
            return self.pod_ips[ip]
        if ip in self.lan:
            return self.lan[ip]
        for host in self.hosts.values():
            if host.kind == "node" and ip in host.routes.local:
                return host.name
        return None

    def show(self) -> str:
        return "\n\n".join(h.show() for h in self.hosts.values())


def node_passes_health_check(cluster, service, node_name: str) -> bool:
    """What the cloud load balancer's health check sees on this node.

    With externalTrafficPolicy Local, kube-proxy's health-check node port answers 200 only
    while the node has a local ready endpoint of the Service (503 otherwise); with Cluster
    every ready node answers (kube-proxy's own /healthz).
    """
    node = cluster.nodes.get(node_name)
    if node is None or not node.ready:
        return False
    if (service.external_traffic_policy or "Cluster") != "Local":
        return True
    # kube-proxy's health server counts the node's ready endpoints as its own endpoint map holds them
    # (EndpointsMap.LocalReadyEndpoints): only endpoints listed under one of the Service's ports. A pod in a
    # slice without ports (a named targetPort it lacks) is in no port's list, so it counts for nothing.
    from kplab.kubeproxy.address import family_of
    from kplab.kubeproxy.endpoints import endpoints_for
    from kplab.kubeproxy.serviceport import service_port_infos
    family = family_of(service.cluster_ip) if service.cluster_ip and service.cluster_ip != "None" else "IPv4"
    for info in service_port_infos(service, family):
        if any(e.is_local and e.ready for e in endpoints_for(cluster, info, node_name, family)):
            return True
    return False


@functools.lru_cache(maxsize=65536)
def _on(ip: str, cidr: str) -> bool:
    """`ip` lies in `cidr` (False for text that is not an address). Cached: every trace asks it of its
    destination and of each tunnel's next hop."""
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False



def _underlay(ips: list[str]) -> str:
    """The smallest network (at most /24) holding every node IP: the LAN the nodes share."""
    if not ips:
        return "192.168.1.0/24"
    prefix = 24
    while prefix > 0:
        nets = {ipaddress.ip_network(f"{ip}/{prefix}", strict=False) for ip in ips}
        if len(nets) == 1:
            return str(nets.pop())
        prefix -= 1
    return "0.0.0.0/0"


def _pod_cidr(cluster, node) -> str | None:
    if node.pod_cidr:
        return str(ipaddress.ip_network(node.pod_cidr, strict=False))
    mask = cluster.settings.node_cidr_mask
    for pod in cluster.pods.values():
        if pod.node_name == node.name and pod.ip and not pod.host_network:
            return str(ipaddress.ip_network(f"{pod.ip}/{mask}", strict=False))
    return None
