"""Endpoints as kube-proxy sees them (its EndpointSliceCache) and which of them a node's rules may use
(CategorizeEndpoints: ready first, then serving-and-terminating as a fallback; cluster and local sets apart)."""
from __future__ import annotations

from dataclasses import dataclass

from kplab.k8s.cluster import Cluster
from kplab.kubeproxy.address import canonical_ip, family_of
from kplab.kubeproxy.chainname import sep_chain
from kplab.kubeproxy.serviceport import ServicePortInfo
from kplab.netfilter.packet import join_host_port


@dataclass(frozen=True)
class EndpointInfo:
    ip: str
    port: int
    ready: bool
    serving: bool
    terminating: bool
    is_local: bool

    @property
    def endpoint(self) -> str:
        """BaseEndpointInfo.String(): "ip:port", the text hashed into the SEP chain name and used by DNAT."""
        return join_host_port(self.ip, self.port)

    def chain(self, info: ServicePortInfo) -> str:
        return sep_chain(info.name, info.protocol, self.endpoint)


def slices_by_service(cluster: Cluster) -> dict[tuple[str, str], list]:
    """EndpointSlices grouped by (namespace, service name): one pass, so a sync stays linear in the cluster size."""
    index: dict[tuple[str, str], list] = {}
    for eps in cluster.endpointslices.values():
        index.setdefault((eps.namespace, eps.service_name), []).append(eps)
    return index


def endpoints_for(cluster: Cluster, info: ServicePortInfo, node_name: str, family: str,
                  index: dict[tuple[str, str], list] | None = None) -> list[EndpointInfo]:
    """Every endpoint of the Service port from its EndpointSlices, deduplicated, sorted as kube-proxy sorts them
    (by "ip:port" text). Only the first address of an endpoint counts; conditions default the way the API does
    (unset ready = ready; unset serving = ready; unset terminating = false)."""
    found: dict[str, EndpointInfo] = {}
    slices = (index if index is not None else slices_by_service(cluster)).get((info.namespace, info.service), ())
    for eps in slices:
        if eps.address_type != family:
            continue
        for port in eps.ports:
            if port.port is None or (port.name or "") != info.port_name:
                continue
            if (port.protocol or "TCP").lower() != info.protocol:
                continue
            for ep in eps.endpoints:
                if not ep.addresses or family_of(ep.addresses[0]) != family:
                    continue
                ready = ep.ready is None or ep.ready
                serving = ready if ep.serving is None else ep.serving
                terminating = bool(ep.terminating)
                e = EndpointInfo(ip=canonical_ip(ep.addresses[0]), port=port.port, ready=ready, serving=serving,
                                 terminating=terminating, is_local=ep.node_name == node_name)
                found.setdefault(e.endpoint, e)
    return [found[k] for k in sorted(found)]


@dataclass(frozen=True)
class Categorized:
    cluster: tuple[EndpointInfo, ...]
    local: tuple[EndpointInfo, ...]
    all_reachable: tuple[EndpointInfo, ...]  # every endpoint some rule on this node may DNAT to
    has_any: bool  # a usable endpoint exists somewhere: suppresses REJECT


def categorize(endpoints: list[EndpointInfo], info: ServicePortInfo) -> Categorized:
    cluster: list[EndpointInfo] = []
    local: list[EndpointInfo] = []
    has_any = False
    if info.uses_cluster_endpoints:
        cluster = [e for e in endpoints if e.ready]
        if not cluster:  # no ready endpoint anywhere: fall back to those still serving while terminating
            cluster = [e for e in endpoints if e.serving and e.terminating]
        has_any = bool(cluster)
    if not info.uses_local_endpoints:
        return Categorized(tuple(cluster), (), tuple(cluster), has_any)
    local_ready = local_term = False
    for e in endpoints:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.is_local
        elif e.serving and e.terminating:
            has_any = True
            local_term = local_term or e.is_local
    if local_ready:
        local = [e for e in endpoints if e.is_local and e.ready]
    elif local_term:
        local = [e for e in endpoints if e.is_local and e.serving and e.terminating]
    if not info.uses_cluster_endpoints:
        reachable = local
    elif not local:
        reachable = cluster
    elif not cluster:
        reachable = local
    else:
        seen = {e.endpoint for e in cluster}
        reachable = cluster + [e for e in local if e.endpoint not in seen]
        reachable.sort(key=lambda e: e.endpoint)
    return Categorized(tuple(cluster), tuple(local), tuple(reachable), has_any)
