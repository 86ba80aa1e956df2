"""Pod: labels, node, IP and named container ports (named targetPorts resolve against these)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ContainerPort:
    port: int
    name: str = ""
    protocol: str = "TCP"


@dataclass
class Pod:
    namespace: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    node_name: str | None = None
    ip: str | None = None
    ports: list[ContainerPort] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    ready: bool = True
    terminating: bool = False
    host_network: bool = False
    owner: str | None = None  # "Deployment/webapp" when made from a workload

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"
