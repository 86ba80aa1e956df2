"""Listeners: which sockets wait for new connections on each host, and what the kernel answers where none does.

kplab has no processes, so it takes what the cluster's objects say: a pod listens on its containers' declared
ports (Kubernetes does not enforce containerPort: a process may listen elsewhere, so kplab says so); a pod that
declares no ports is taken to listen on whatever it is sent (kplab cannot know better). A node listens on the ports
of its hostNetwork pods, the health-check node ports kube-proxy serves (externalTrafficPolicy Local), kube-proxy's
healthz (10256) and the kubelet (10250); the control-plane node also on the API server's port (the `kubernetes`
Service's endpoint). Hosts outside the cluster are taken to listen.

Where nothing listens, the kernel answers a TCP SYN with a reset (tcp_v4_send_reset: RST,ACK from the address
the SYN was sent to) and a UDP datagram with ICMP port unreachable (icmp_send from __udp4_lib_rcv), which the
client's socket reports as ECONNREFUSED.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kplab.netfilter.packet import Packet

KUBELET_PORT = 10250
KUBE_PROXY_HEALTHZ_PORT = 10256


@dataclass(frozen=True)
class Listening:
    """One host's listeners: (protocol, port) -> what listens there; `anything`: its listeners are unknown, so
    it is taken to listen on every port (`why_anything` says why)."""
    ports: dict[tuple[str, int], str] = field(default_factory=dict)
    anything: bool = False
    why_anything: str = ""

    def who(self, protocol: str, port: int | None) -> str | None:
        """What answers a new connection to `port` (None: nothing listens there)."""
        if self.anything:
            return self.why_anything
        return self.ports.get((protocol, port))


def listeners(cluster, topology) -> dict[str, Listening]:
    """Every host's Listening, keyed by topology host name (hosts not listed are taken to listen anywhere)."""
    found: dict[str, dict[tuple[str, int], str]] = {}
    out: dict[str, Listening] = {}
    for pod in sorted(cluster.pods.values(), key=lambda p: p.key):
        host = pod.node_name if pod.host_network else pod.key
        if host not in topology.hosts:
            continue
        ports = found.setdefault(host, {})
        for cp in pod.ports:
            ports.setdefault((cp.protocol.lower(), cp.port),
                             f"{pod.key}'s containerPort {cp.port}/{cp.protocol.upper()} (declared; Kubernetes does "
                             f"not check that the container really listens there)")
        if not pod.ports and not pod.host_network:
            out[host] = Listening(anything=True, why_anything=f"{pod.key} declares no ports: taken to listen on "
                                                              f"every port (kplab cannot know what it runs)")
    api = _api_server(cluster)
    for name in getattr(topology, "node_ips", {}):
        ports = found.setdefault(name, {})
        ports.setdefault(("tcp", KUBELET_PORT), "the kubelet")
        ports.setdefault(("tcp", KUBE_PROXY_HEALTHZ_PORT), "kube-proxy's healthz")
        for svc in cluster.services.values():
            if svc.health_check_node_port:
                ports.setdefault(("tcp", svc.health_check_node_port),
                                 f"kube-proxy's health check for {svc.key} (healthCheckNodePort)")
        node = cluster.nodes.get(name)
        for ip, port in api:
            if node is not None and any(a.address == ip for a in node.addresses):
                ports.setdefault(("tcp", port), "the API server")
    for host, ports in found.items():
        out.setdefault(host, Listening(ports=ports))
    for host_name, host in topology.hosts.items():
        if host.kind in ("outside", "router", "load-balancer"):
            out[host_name] = Listening(anything=True, why_anything="a host outside the cluster: taken to listen")
    return out


def _api_server(cluster) -> list[tuple[str, int]]:
    """(address, port) of the API server: the default/kubernetes Service's endpoints."""
    found = []
    for eps in cluster.endpointslices.values():
        if (eps.namespace, eps.service_name) != ("default", "kubernetes"):
            continue
        for port in eps.ports:
            if port.port is None:
                continue
            for ep in eps.endpoints:
                found += [(a, port.port) for a in ep.addresses]
    return found


def refusal(packet: Packet) -> Packet | None:
    """The kernel's answer to a new connection nothing listens for: a TCP RST,ACK (to a SYN) or an ICMP port
    unreachable quoting the datagram (UDP); None for other packets (kplab does not model SCTP's ABORT)."""
    if packet.protocol == "tcp" and packet.flags == {"SYN"}:
        return Packet(packet.dst, packet.src, "tcp", packet.dport, packet.sport, tcp_flags="RST,ACK")
    if packet.protocol == "udp":
        return Packet(packet.dst, packet.src, "icmp", tcp_flags="", icmp_type="destination-unreachable",
                      icmp_code=3, embedded=packet)
    return None
