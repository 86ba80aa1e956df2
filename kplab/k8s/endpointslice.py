"""EndpointSlice: which pod addresses back a Service, and their ready/serving/terminating conditions."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kplab.k8s.apistatus import field_invalid, field_required, field_unsupported, invalid
from kplab.k8s.revision import Tracked


@dataclass
class Endpoint(Tracked):
    addresses: list[str]
    ready: bool | None = None  # None = unset (kube-proxy treats as ready)
    serving: bool | None = None  # None = same as ready
    terminating: bool | None = None  # None = false
    node_name: str | None = None
    target_ref: str | None = None  # "ns/pod"
    hostname: str | None = None


@dataclass
class EndpointPort(Tracked):
    port: int | None
    protocol: str = "TCP"
    name: str = ""


@dataclass
class EndpointSlice(Tracked):
    namespace: str
    name: str
    service_name: str  # label kubernetes.io/service-name
    address_type: str = "IPv4"
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: list[EndpointPort] = field(default_factory=list)
    managed_by: str = ""  # label endpointslice.kubernetes.io/managed-by ("" when given by hand)
    source: str = ""  # "file:line" of the manifest it came from, for error messages

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"]
CONTROLLER = "endpointslice-controller.k8s.io"
MIRRORING_CONTROLLER = "endpointslicemirroring-controller.k8s.io"


def validate_endpointslice(s: EndpointSlice) -> None:
    """The discovery API's checks on a hand-written EndpointSlice (what a selector-less Service relies on)."""
    errs: list[str] = []
    if not s.address_type:
        errs.append(field_required("addressType"))
    elif s.address_type not in ADDRESS_TYPES:
        errs.append(field_unsupported("addressType", s.address_type, sorted(ADDRESS_TYPES)))
    for i, ep in enumerate(s.endpoints):
        if not ep.addresses:
            errs.append(field_required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
        for j, addr in enumerate(ep.addresses):
            family = {"IPv4": 4, "IPv6": 6}.get(s.address_type)
            if family is None:
                continue
            try:
                ok = ipaddress.ip_address(addr).version == family
            except ValueError:
                ok = False
            if not ok:
                errs.append(field_invalid(f"endpoints[{i}].addresses[{j}]", addr,
                                          f"must be a valid {s.address_type} address"))
    for i, p in enumerate(s.ports):
        if p.port is not None and not 1 <= p.port <= 65535:
            errs.append(field_invalid(f"ports[{i}].port", p.port, "must be between 1 and 65535, inclusive"))
        if p.protocol not in ("TCP", "UDP", "SCTP"):
            errs.append(field_unsupported(f"ports[{i}].protocol", p.protocol, ["SCTP", "TCP", "UDP"]))
    if errs:
        raise invalid("EndpointSlice.discovery.k8s.io", s.name, errs, s.source)
