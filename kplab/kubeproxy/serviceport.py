"""ServicePortInfo: what kube-proxy keeps of one Service port (its svcPortMap entry), for one IP family.

kube-proxy runs one proxier per IP family; a Service's IPs of the other family are simply not its business.
"""
from __future__ import annotations

from dataclasses import dataclass

from kplab.k8s.service import Service, ServicePort
from kplab.kubeproxy import chainname
from kplab.kubeproxy.address import canonical_cidr, canonical_ip, family_of

DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds; the API server's default for ClientIP affinity


@dataclass(frozen=True)
class ServicePortInfo:
    namespace: str
    service: str
    port_name: str
    protocol: str  # lower case: tcp, udp, sctp
    cluster_ip: str
    port: int
    node_port: int
    external_ips: tuple[str, ...]
    load_balancer_ips: tuple[str, ...]  # ingress IPs, minus ipMode Proxy ones
    source_ranges: tuple[str, ...]
    external_policy_local: bool
    internal_policy_local: bool
    health_check_node_port: int
    affinity_timeout: int | None  # seconds when ClientIP affinity, else None
    type: str

    @property
    def name(self) -> str:
        return chainname.service_port_name(self.namespace, self.service, self.port_name)

    @property
    def service_key(self) -> str:
        return f"{self.namespace}/{self.service}"

    @property
    def externally_accessible(self) -> bool:
        return self.node_port != 0 or bool(self.load_balancer_ips) or bool(self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        # Even with eTP Local, external traffic from pods and the node short-circuits to the cluster chain.
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (self.external_policy_local and self.externally_accessible)

    # chain names
    @property
    def svc_chain(self) -> str:
        return chainname.svc_chain(self.name, self.protocol)

    @property
    def svl_chain(self) -> str:
        return chainname.svl_chain(self.name, self.protocol)

    @property
    def ext_chain(self) -> str:
        return chainname.ext_chain(self.name, self.protocol)

    @property
    def fw_chain(self) -> str:
        return chainname.fw_chain(self.name, self.protocol)

    @property
    def xlb_chain(self) -> str:
        return chainname.xlb_chain(self.name, self.protocol)


def _of_family(values, family: str, canon) -> tuple[str, ...]:
    out = []
    for v in values or ():
        v = v.strip()
        if v and family_of(v) == family:
            out.append(canon(v))
    return tuple(out)


def service_port_infos(service: Service, family: str) -> list[ServicePortInfo]:
    """The ports kube-proxy proxies for this Service: none for headless, ExternalName or other-family ClusterIPs."""
    if service.type == "ExternalName" or not service.cluster_ip or service.cluster_ip == "None":
        return []
    if family_of(service.cluster_ip) != family:
        return []
    cluster_ip = canonical_ip(service.cluster_ip)
    externally = service.type in ("NodePort", "LoadBalancer") or bool(service.external_ips)
    etp_local = externally and service.external_traffic_policy == "Local"
    itp_local = service.internal_traffic_policy == "Local"
    lb_ips = tuple(
        canonical_ip(i.ip) for i in service.load_balancer_ingress
        if i.ip and i.ip_mode != "Proxy" and family_of(i.ip) == family
    ) if service.type == "LoadBalancer" else ()
    # NeedsHealthCheck: only LoadBalancer Services with eTP Local get a health-check node port.
    hc = service.health_check_node_port if (service.type == "LoadBalancer" and etp_local) else 0
    affinity = None
    if service.session_affinity == "ClientIP":
        affinity = service.session_affinity_timeout or DEFAULT_AFFINITY_TIMEOUT
    infos = []
    for p in service.ports:
        infos.append(ServicePortInfo(
            namespace=service.namespace, service=service.name, port_name=p.name or "",
            protocol=(p.protocol or "TCP").lower(), cluster_ip=cluster_ip, port=p.port,
            node_port=p.node_port or 0,
            external_ips=_of_family(service.external_ips, family, canonical_ip),
            load_balancer_ips=lb_ips,
            source_ranges=_of_family(service.load_balancer_source_ranges, family, canonical_cidr),
            external_policy_local=etp_local, internal_policy_local=itp_local,
            health_check_node_port=hc, affinity_timeout=affinity, type=service.type,
        ))
    return infos


def port_matches(info: ServicePortInfo, port: ServicePort) -> bool:
    return (port.name or "") == info.port_name and (port.protocol or "TCP").lower() == info.protocol
