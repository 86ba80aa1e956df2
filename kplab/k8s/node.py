"""Node: where pods run; its InternalIP is what kube-proxy calls the node IP."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NodeAddress:
    type: str  # InternalIP, ExternalIP, Hostname, ...
    address: str


@dataclass
class Node:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    addresses: list[NodeAddress] = field(default_factory=list)
    pod_cidr: str | None = None
    ready: bool = True

    @property
    def internal_ip(self) -> str | None:
        for a in self.addresses:
            if a.type == "InternalIP":
                return a.address
        return None
