"""EndpointSlice: which pod addresses back a Service, and their ready/serving/terminating conditions."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Endpoint:
    addresses: list[str]
    ready: bool | None = None  # None = unset (kube-proxy treats as ready)
    serving: bool | None = None  # None = same as ready
    terminating: bool | None = None  # None = false
    node_name: str | None = None
    target_ref: str | None = None  # "ns/pod"
    hostname: str | None = None


@dataclass
class EndpointPort:
    port: int | None
    protocol: str = "TCP"
    name: str = ""


@dataclass
class EndpointSlice:
    namespace: str
    name: str
    service_name: str  # label kubernetes.io/service-name
    address_type: str = "IPv4"
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: list[EndpointPort] = field(default_factory=list)
