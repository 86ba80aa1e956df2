"""Node: where pods run; its InternalIP is what kube-proxy calls the node IP."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kplab.k8s.apistatus import field_invalid, invalid
from kplab.k8s.revision import Tracked


@dataclass
class NodeAddress(Tracked):
    type: str  # InternalIP, ExternalIP, Hostname, ...
    address: str


@dataclass
class Node(Tracked):
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    addresses: list[NodeAddress] = field(default_factory=list)
    pod_cidr: str | None = None
    ready: bool = True
    source: str = ""  # "file:line" of the manifest it came from, for error messages

    @property
    def internal_ip(self) -> str | None:
        for a in self.addresses:
            if a.type == "InternalIP":
                return a.address
        return None


def validate_node(node: Node) -> None:
    """Node addresses and podCIDR must parse: everything downstream routes by them."""
    errs: list[str] = []
    for i, a in enumerate(node.addresses):
        if a.type in ("InternalIP", "ExternalIP"):
            try:
                ipaddress.ip_address(a.address)
            except ValueError:
                errs.append(field_invalid(f"status.addresses[{i}].address", a.address, "must be a valid IP address"))
    if node.pod_cidr:
        try:
            if "/" not in node.pod_cidr:  # Go's net.ParseCIDR needs the prefix length
                raise ValueError(node.pod_cidr)
            ipaddress.ip_network(node.pod_cidr, strict=False)
        except ValueError:
            errs.append(field_invalid("spec.podCIDRs[0]", node.pod_cidr,
                                      "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
    if errs:
        raise invalid("Node", node.name, errs, node.source)
