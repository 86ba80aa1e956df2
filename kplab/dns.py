"""Cluster DNS as CoreDNS's kubernetes plugin answers it (the records the DNS specification for Kubernetes lists).

- `<svc>.<ns>.svc.<domain>` A -> the ClusterIP; for a headless Service, the ready endpoint addresses;
  for an ExternalName Service, a CNAME to the external name.
- `<hostname>.<svc>.<ns>.svc.<domain>` A -> that endpoint's address (StatefulSet pods, whose subdomain names the
  headless Service).
- `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV -> port and target (the Service name; for a headless Service,
  one record per ready endpoint, targeting `<hostname>.<svc>...` or `<a-b-c-d>.<svc>...`).
- `<a-b-c-d>.<ns>.pod.<domain>` A -> a.b.c.d (CoreDNS's `pods insecure` mode answers any such name).
Short names go through the pod's search path as its resolv.conf sets it (`<ns>.svc.<domain>`, `svc.<domain>`,
`<domain>`, with ndots:5): a name with fewer than 5 dots is tried with each suffix first, then as written.
NXDOMAIN is an answer, not an error. Names outside the cluster domain are not answered here (CoreDNS forwards
them upstream): the answer says so with rcode "FORWARDED" (a single-label name outside it is NXDOMAIN).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kplab.k8s.cluster import Cluster
from kplab.k8s.service import Service

NDOTS = 5


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str  # "A", "CNAME", "SRV"
    value: str  # address, target name, or "priority weight port target" for SRV
    ttl: int = 30  # CoreDNS kubernetes plugin default

    def __str__(self) -> str:
        return f"{self.name}.\t{self.ttl}\tIN\t{self.type}\t{self.value}"


@dataclass
class DnsAnswer:
    question: str  # as asked
    qtype: str
    rcode: str  # "NOERROR", "NXDOMAIN" or "FORWARDED"
    name: str | None = None  # the fully qualified name that answered (after the search path)
    records: list[DnsRecord] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)  # names queried, in order

    @property
    def addresses(self) -> list[str]:
        return [r.value for r in self.records if r.type == "A"]

    def __str__(self) -> str:
        head = f";; {self.question} {self.qtype}: {self.rcode}"
        return "\n".join([head, *map(str, self.records)])


def search_path(namespace: str, domain: str) -> list[str]:
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]


def candidates(name: str, namespace: str, domain: str) -> list[str]:
    """The names a pod's resolver asks for, in order (resolv.conf search list, ndots:5; a trailing dot means
    the name is already absolute)."""
    if name.endswith("."):
        return [name.rstrip(".")]
    expanded = [f"{name}.{suffix}" for suffix in search_path(namespace, domain)]
    return expanded + [name] if name.count(".") < NDOTS else [name] + expanded


def resolve(cluster: Cluster, name: str, from_namespace: str = "default", qtype: str = "A") -> DnsAnswer:
    """Ask cluster DNS for `name` (type A, SRV or CNAME) as a pod in `from_namespace` would."""
    qtype = qtype.upper()
    domain = cluster.settings.dns_domain.strip(".").lower()
    tried: list[str] = []
    forwarded = False
    for fqdn in candidates(name.lower(), from_namespace, domain):
        tried.append(fqdn)
        if not (fqdn == domain or fqdn.endswith("." + domain)):
            # CoreDNS sends it upstream; kplab models only the cluster's own zone (a single label is NXDOMAIN)
            forwarded = forwarded or "." in fqdn
            continue
        records = lookup(cluster, fqdn, qtype)
        if records is not None:
            return DnsAnswer(name, qtype, "NOERROR", fqdn, records, tried)
    return DnsAnswer(name, qtype, "FORWARDED" if forwarded else "NXDOMAIN", None, [], tried)


def lookup(cluster: Cluster, fqdn: str, qtype: str) -> list[DnsRecord] | None:
    """Records for one fully qualified name in the cluster domain; None means NXDOMAIN. An existing name with no
    record of the asked type gives [] (NOERROR, empty answer: NODATA)."""
    domain = cluster.settings.dns_domain.strip(".").lower()
    labels = fqdn[: -len(domain) - 1].split(".") if fqdn != domain else []
    if len(labels) >= 2 and labels[-1] == "pod":
        return _pod_record(cluster, fqdn, labels[:-1], qtype)
    if not labels or labels[-1] != "svc":
        return None
    labels = labels[:-1]  # [.., svc, ns]
    if len(labels) == 2:
        svc = _service(cluster, labels[0], labels[1])
        return None if svc is None else _service_records(cluster, fqdn, svc, qtype)
    if len(labels) == 3:  # <hostname or a-b-c-d>.<svc>.<ns>
        svc = _service(cluster, labels[1], labels[2])
        if svc is None or not svc.headless:
            return None
        for ip, hostname in _ready_endpoints(cluster, svc):
            if labels[0] in (hostname, _dashed(ip)):
                return [DnsRecord(fqdn, "A", ip)] if qtype == "A" else []
        return None
    if len(labels) == 4 and labels[0].startswith("_") and labels[1].startswith("_"):
        svc = _service(cluster, labels[2], labels[3])
        if svc is None:
            return None
        port_name, proto = labels[0][1:], labels[1][1:].upper()
        ports = [p for p in svc.ports if p.name == port_name and p.protocol == proto]
        if not ports:
            return None
        if qtype != "SRV":
            return []
        base = f"{svc.name}.{svc.namespace}.svc.{domain}"
        if not svc.headless:
            return [DnsRecord(fqdn, "SRV", f"0 100 {p.port} {base}.") for p in ports]
        records = []
        for ip, hostname in _ready_endpoints(cluster, svc):
            target = f"{hostname or _dashed(ip)}.{base}."
            records.extend(DnsRecord(fqdn, "SRV", f"0 100 {_endpoint_port(cluster, svc, p.name, ip) or p.port} "
                                                  f"{target}") for p in ports)
        return records
    return None


def _service(cluster: Cluster, name: str, namespace: str) -> Service | None:
    return cluster.services.get(f"{namespace}/{name}")


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def _ready_endpoints(cluster: Cluster, svc: Service) -> list[tuple[str, str | None]]:
    """(address, hostname) of the Service's ready endpoints (CoreDNS serves only ready ones), deduplicated."""
    seen: dict[str, str | None] = {}
    for s in cluster.slices_for(svc):
        for ep in s.endpoints:
            if ep.ready is False:
                continue
            for a in ep.addresses:
                seen.setdefault(a, ep.hostname)
    return sorted(seen.items(), key=lambda kv: ipaddress.ip_address(kv[0]))


def _endpoint_port(cluster: Cluster, svc: Service, port_name: str, ip: str) -> int | None:
    for s in cluster.slices_for(svc):
        if any(ip in ep.addresses for ep in s.endpoints):
            for p in s.ports:
                if p.name == port_name and p.port is not None:
                    return p.port
    return None


def _service_records(cluster: Cluster, fqdn: str, svc: Service, qtype: str) -> list[DnsRecord]:
    if svc.type == "ExternalName":
        # CNAME answers every query type; the resolver then asks upstream for the target
        return [DnsRecord(fqdn, "CNAME", f"{(svc.external_name or '').rstrip('.')}.")]
    if qtype == "SRV":
        domain = cluster.settings.dns_domain.strip(".")
        base = f"{svc.name}.{svc.namespace}.svc.{domain}"
        if svc.headless:
            return [DnsRecord(fqdn, "SRV", f"0 100 {p.port} {hostname or _dashed(ip)}.{base}.")
                    for ip, hostname in _ready_endpoints(cluster, svc) for p in svc.ports]
        return [DnsRecord(fqdn, "SRV", f"0 100 {p.port} {base}.") for p in svc.ports]
    if qtype != "A":
        return []
    if svc.headless:
        return [DnsRecord(fqdn, "A", ip) for ip, _ in _ready_endpoints(cluster, svc)]
    return [DnsRecord(fqdn, "A", svc.cluster_ip)] if svc.cluster_ip else []


def _pod_record(cluster: Cluster, fqdn: str, labels: list[str], qtype: str) -> list[DnsRecord] | None:
    """`a-b-c-d.<ns>.pod.<domain>`: CoreDNS (`pods insecure`, kubeadm's default) answers from the name alone."""
    if len(labels) != 2:
        return None
    text = labels[0].replace("-", ".")
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        return None
    if cluster.namespaces and labels[1] not in cluster.namespaces:
        return None
    return [DnsRecord(fqdn, "A", str(ip))] if qtype == "A" else []
