"""Service: the virtual IP and ports kube-proxy turns into rules."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from kplab.k8s.apistatus import (DNS1035, DNS1123_LABEL, field_duplicate, field_forbidden, field_invalid,
                                 field_required, field_unsupported, invalid, port_name_problems)
from kplab.k8s.revision import Tracked


@dataclass
class ServicePort(Tracked):
    port: int
    protocol: str = "TCP"
    name: str = ""
    target_port: int | str | None = None  # number, a container port name, or None (= port)
    node_port: int = 0


@dataclass
class LoadBalancerIngress(Tracked):
    ip: str = ""
    hostname: str = ""
    ip_mode: str | None = None  # "VIP" or "Proxy"


@dataclass
class Service(Tracked):
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
    allocate_load_balancer_node_ports: bool = True
    publish_not_ready_addresses: bool = False
    source: str = ""  # "file:line" of the manifest it came from, for error messages

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None"


# --- validation, as the API server words it -------------------------------------------------------------------

SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
PROTOCOLS = ["TCP", "UDP", "SCTP"]
MAX_AFFINITY_SECONDS = 86400  # core.MaxClientIPServiceAffinitySeconds


def _dns1035(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)) and len(name) <= 63


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _go_service_port(p: ServicePort) -> str:
    """A ServicePort as Go's %#v prints it in `Duplicate value` errors."""
    if isinstance(p.target_port, str):
        target = f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:"{p.target_port}"}}'
    else:
        target = f'intstr.IntOrString{{Type:0, IntVal:{p.target_port or p.port}, StrVal:""}}'
    return (f'core.ServicePort{{Name:"{p.name}", Protocol:"{p.protocol}", AppProtocol:(*string)(nil), '
            f"Port:{p.port}, TargetPort:{target}, NodePort:{p.node_port}}}")


def validate_service(svc: Service) -> None:
    """Refuse what the API server's ValidateService refuses (field by field, before any allocation)."""
    errs: list[str] = []
    if not _dns1035(svc.name):
        errs.append(field_invalid("metadata.name", svc.name, DNS1035))
    if svc.type not in SERVICE_TYPES:
        errs.append(field_unsupported("spec.type", svc.type, sorted(SERVICE_TYPES)))
    if svc.type == "ExternalName":
        if not svc.external_name:
            errs.append(field_required("spec.externalName"))
    elif not svc.ports and not svc.headless:
        errs.append(field_required("spec.ports"))
    if svc.headless and svc.type in ("NodePort", "LoadBalancer"):
        errs.append(field_invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {svc.type} services"))
    if svc.cluster_ip and not svc.headless and not _ip(svc.cluster_ip):
        errs.append(field_invalid("spec.clusterIPs[0]", svc.cluster_ip,
                                  "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    names: set[str] = set()
    seen: set[tuple[int, str]] = set()
    for i, p in enumerate(svc.ports):
        path = f"spec.ports[{i}]"
        if len(svc.ports) > 1 and not p.name:
            errs.append(field_required(f"{path}.name"))
        elif p.name:
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", p.name) or len(p.name) > 63:
                errs.append(field_invalid(f"{path}.name", p.name, DNS1123_LABEL))
            elif p.name in names:
                errs.append(field_duplicate(f"{path}.name", p.name))
            names.add(p.name)
        if not 1 <= p.port <= 65535:
            errs.append(field_invalid(f"{path}.port", p.port, "must be between 1 and 65535, inclusive"))
        if p.protocol not in PROTOCOLS:
            errs.append(field_unsupported(f"{path}.protocol", p.protocol, sorted(PROTOCOLS)))
        if isinstance(p.target_port, int) and not 1 <= p.target_port <= 65535:
            errs.append(field_invalid(f"{path}.targetPort", p.target_port, "must be between 1 and 65535, inclusive"))
        if isinstance(p.target_port, str):
            for problem in port_name_problems(p.target_port):
                errs.append(field_invalid(f"{path}.targetPort", p.target_port, problem))
        if (p.port, p.protocol) in seen:
            errs.append(field_duplicate(path, _go_service_port(p)))
        seen.add((p.port, p.protocol))
        if p.node_port and svc.type in ("ClusterIP", "ExternalName"):
            errs.append(field_forbidden(f"{path}.nodePort", f"may not be used when `type` is '{svc.type}'"))
    if svc.external_traffic_policy is not None:
        if svc.external_traffic_policy not in ("Cluster", "Local"):
            errs.append(field_unsupported("spec.externalTrafficPolicy", svc.external_traffic_policy,
                                          ["Cluster", "Local"]))
        elif svc.type not in ("NodePort", "LoadBalancer") and not svc.external_ips:
            errs.append(field_invalid("spec.externalTrafficPolicy", svc.external_traffic_policy,
                                      "may only be set for externally-accessible services"))
    if svc.internal_traffic_policy is not None and svc.internal_traffic_policy not in ("Cluster", "Local"):
        errs.append(field_unsupported("spec.internalTrafficPolicy", svc.internal_traffic_policy, ["Cluster", "Local"]))
    if svc.session_affinity not in ("None", "ClientIP"):
        errs.append(field_unsupported("spec.sessionAffinity", svc.session_affinity, ["ClientIP", "None"]))
    if svc.session_affinity == "ClientIP" and svc.session_affinity_timeout is not None:
        t = svc.session_affinity_timeout
        if not 0 < t <= MAX_AFFINITY_SECONDS:
            errs.append(field_invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", t,
                                      f"must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"))
    for i, ip in enumerate(svc.external_ips):
        if not _ip(ip):
            errs.append(field_invalid(f"spec.externalIPs[{i}]", ip,
                                      "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    if svc.load_balancer_source_ranges and svc.type != "LoadBalancer":
        errs.append(field_forbidden("spec.loadBalancerSourceRanges",
                                    "may only be used when `type` is 'LoadBalancer'"))
    for i, cidr in enumerate(svc.load_balancer_source_ranges):
        try:
            ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            errs.append(field_invalid(f"spec.loadBalancerSourceRanges[{i}]", cidr,
                                      "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 "))
    if svc.health_check_node_port and not (svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local"):
        errs.append(field_invalid("spec.healthCheckNodePort", svc.health_check_node_port,
                                  "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    if errs:
        raise invalid("Service", svc.name, errs, svc.source)


def node_port_out_of_range(svc: Service, path: str, port: int, port_range: tuple[int, int]) -> Exception:
    return invalid("Service", svc.name, [field_invalid(
        path, port, "provided port is not in the valid range. "
        f"The range of valid ports is {port_range[0]}-{port_range[1]}")], svc.source)


def node_port_taken(svc: Service, path: str, port: int) -> Exception:
    return invalid("Service", svc.name, [field_invalid(path, port, "provided port is already allocated")], svc.source)


def cluster_ip_out_of_range(svc: Service, ip: str, subnet: str) -> Exception:
    return invalid("Service", svc.name, [field_invalid(
        "spec.clusterIPs", [ip], f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
        f"The range of valid IPs is {subnet}")], svc.source)


def cluster_ip_taken(svc: Service, ip: str) -> Exception:
    return invalid("Service", svc.name, [field_invalid(
        "spec.clusterIPs", [ip], f"failed to allocate IP {ip}: provided IP is already allocated")], svc.source)
