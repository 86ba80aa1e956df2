"""Turning the user's SRC and DST words into hosts and addresses.

SRC: `ns/pod`, a node name or an IP (a pod's, a node's, or any outside address).
DST: `ns/pod`, `ns/service`, `NODE:NODEPORT`, an IP (with a port), or a DNS name that the
cluster DNS answers (A for a ClusterIP, the pod IPs for a headless Service, a CNAME for an
ExternalName). Name resolution is a step of the trace, not a shortcut: the packet then goes
to whatever address the answer holds.
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

from kplab.errors import KplabError
from kplab.walk.trace import DnsDetail, Step


@dataclass
class Source:
    host: str
    namespace: str = "default"  # for DNS search paths
    label: str = ""


@dataclass
class Destination:
    ip: str
    port: int | None
    label: str = ""
    dns: list[Step] = field(default_factory=list)


def is_ipv4(text: str) -> bool:
    """True for a dotted IPv4 address (specs name pods, Services and DNS names otherwise)."""
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def _on_node_network(topology, ip: str) -> bool:
    """An address of the node LAN no node, pod or router owns (not the LAN's network or broadcast address)."""
    try:
        net = ipaddress.ip_network(topology.underlay)
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address in net and address not in (net.network_address, net.broadcast_address) and \
        topology.host_of_ip(ip) is None


def resolve_source(cluster, topology, spec: str) -> Source:
    if spec in cluster.pods:
        pod = cluster.pods[spec]
        if pod.host_network:
            return Source(pod.node_name, pod.namespace, spec)
        if spec not in topology.hosts:
            raise KplabError(f"source {spec}: the pod has no IP or node yet, so it cannot send")
        return Source(spec, pod.namespace, spec)
    if spec in cluster.nodes:
        return Source(spec, "default", spec)
    if is_ipv4(spec):
        owner = topology.host_of_ip(spec)
        if owner is not None:
            host = topology.hosts[owner]
            return Source(owner, (host.pod or "default/").split("/")[0], spec)
        if _on_node_network(topology, spec):  # a client on the nodes' LAN (minikube's host, an office network)
            topology.lan_host(spec)
            return Source(spec, "default", spec)
        if not topology.is_outside(spec):
            raise KplabError(f"source {spec}: address is inside the cluster networks but no pod or node owns it")
        topology.outside_host(spec)
        return Source(spec, "default", spec)
    raise KplabError(f"source {spec}: not a pod (ns/name), a node name or an IP address")


def resolve_destination(cluster, topology, spec: str, port: int | None, protocol: str,
                        from_namespace: str = "default") -> Destination:
    if not spec:
        raise KplabError("destination: empty")
    node, _, node_port = spec.rpartition(":")
    if node and node in cluster.nodes:
        return Destination(cluster.nodes[node].internal_ip, _port_text(node_port, spec), spec)
    if spec in cluster.pods:
        pod = cluster.pods[spec]
        if not pod.ip:
            raise KplabError(f"destination {spec}: the pod has no IP")
        if port is None:
            port = pod.ports[0].port if pod.ports else None
        return Destination(pod.ip, _need_port(port, spec), spec)
    if spec in cluster.services:
        svc = cluster.services[spec]
        name = f"{svc.name}.{svc.namespace}.svc.{cluster.settings.dns_domain}"
        if svc.type != "ExternalName" and not svc.headless and svc.cluster_ip:
            return Destination(svc.cluster_ip, _need_port(_service_port(svc, port, protocol), spec), spec)
        return _from_dns(cluster, topology, name, _service_port(svc, port, protocol), protocol, from_namespace, spec)
    if is_ipv4(spec):
        return Destination(spec, _need_port(port, spec), spec)
    ip, _, p = spec.rpartition(":")
    if is_ipv4(ip):
        return Destination(ip, _port_text(p, spec), spec)
    if _looks_like_ipv4(spec) or _looks_like_ipv4(ip):
        raise KplabError(f"destination {spec}: {ip or spec!r} is not a valid IP address")
    if "." in spec or spec.replace("-", "").isalnum():
        return _from_dns(cluster, topology, spec, port, protocol, from_namespace, spec)
    raise KplabError(f"destination {spec}: not a pod, a Service, NODE:NODEPORT, an IP or a DNS name")


def _service_port(svc, port: int | None, protocol: str) -> int | None:
    if port is not None:
        return port
    for p in svc.ports:
        if p.protocol.lower() == protocol:
            return p.port
    return svc.ports[0].port if svc.ports else None


def _need_port(port: int | None, spec: str) -> int:
    if port is None:
        raise KplabError(f"destination {spec}: no port known; give one (port=...)")
    if not 1 <= port <= 65535:
        raise KplabError(f"destination {spec}: {port} is not a port (1-65535)")
    return port


def _port_text(text: str, spec: str) -> int:
    """The PORT of `IP:PORT` / `NODE:PORT`, refused when it is not one (it is never a DNS name's part)."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise KplabError(f"destination {spec}: {text!r} is not a port (1-65535)")
    return int(text)


def _looks_like_ipv4(text: str) -> bool:
    """Digits and dots only: meant as an IPv4 address (a DNS name never ends in an all-numeric label)."""
    return bool(text) and all(c.isdigit() or c == "." for c in text) and "." in text


def _from_dns(cluster, topology, name: str, port: int | None, protocol: str, namespace: str, spec: str,
              depth: int = 0) -> Destination:
    from kplab.dns import resolve

    answer = resolve(cluster, name, from_namespace=namespace)
    steps: list[Step] = []
    records = list(getattr(answer, "records", []) or [])
    a_records = [r.value for r in records if r.type == "A"]
    cname = next((r.value.rstrip(".") for r in records if r.type == "CNAME"), None)
    fqdn = (answer.name or name).rstrip(".")
    if getattr(answer, "rcode", "") == "FORWARDED" and not records:
        cname = name  # not a cluster name: CoreDNS forwards it upstream
        steps.append(Step("dns", "forward", f"{name}: not in {cluster.settings.dns_domain}, forwarded upstream",
                          DnsDetail(name, "forward")))
    if a_records:
        listing = ", ".join(a_records)
        steps.append(Step("dns", "resolved", f"{fqdn}. A {listing}", DnsDetail(fqdn, "A", tuple(a_records)),
                          note="the client connects to the first address" if len(a_records) > 1 else ""))
        ip = a_records[0]
    elif cname:
        if cname != name:
            steps.append(Step("dns", "CNAME", f"{fqdn}. CNAME {cname}.", DnsDetail(fqdn, "CNAME", (cname,)),
                              note="an ExternalName Service is only a DNS alias: no rules, no proxying"))
        if depth < 4 and cname != name:
            inner = None
            try:
                inner = _from_dns(cluster, topology, cname.rstrip("."), port, protocol, namespace, spec, depth + 1)
            except KplabError:
                inner = None
            if inner is not None:
                return Destination(inner.ip, inner.port, spec, steps + inner.dns)
        ip = _stand_in(cname)
        steps.append(Step("dns", "resolved", f"{cname}. A {ip}", DnsDetail(cname, "A", (ip,)),
                          note="outside name: kplab does not model public DNS and uses a TEST-NET-2 stand-in address"))
    else:
        raise KplabError(f"destination {spec}: DNS has no A or CNAME record for {name}")
    if port is None and a_records:
        srv = resolve(cluster, fqdn, from_namespace=namespace, qtype="SRV")
        for record in getattr(srv, "records", []) or []:
            if record.type == "SRV":
                port = int(record.value.split()[2])
                steps.append(Step("dns", "port", f"{fqdn}. SRV {record.value}",
                                  DnsDetail(fqdn, "SRV", (record.value,)),
                                  note="no port given: the port comes from the SRV record"))
                break
    return Destination(ip, _need_port(port, spec), spec, steps)


def _stand_in(name: str) -> str:
    digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    return f"198.51.100.{1 + digest % 254}"
