"""Pod: labels, node, IP and named container ports (named targetPorts resolve against these)."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from kplab.errors import KplabError
from kplab.k8s.apistatus import DNS1123_SUBDOMAIN, field_invalid, invalid
from kplab.k8s.revision import Tracked


@dataclass
class ContainerPort(Tracked):
    port: int
    name: str = ""
    protocol: str = "TCP"


@dataclass
class Pod(Tracked):
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
    hostname: str | None = None  # spec.hostname (StatefulSet pods: their own name)
    subdomain: str | None = None  # spec.subdomain (StatefulSet pods: spec.serviceName)
    source: str = ""  # "file:line" of the manifest it came from, for error messages

    @property
    def phase(self) -> str:
        """Running once scheduled and given an IP; Pending otherwise (kplab has no container lifecycle)."""
        return "Running" if self.node_name and self.ip else "Pending"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_container_ports(spec: dict, where: str) -> list[ContainerPort]:
    """Every container's declared ports, in order (named targetPorts resolve against these names)."""
    ports: list[ContainerPort] = []
    for container in (spec.get("containers") or []):
        for p in container.get("ports") or []:
            if not isinstance(p, dict) or "containerPort" not in p:
                raise KplabError(f"{where}: a container port needs containerPort")
            ports.append(ContainerPort(port=int(p["containerPort"]), name=str(p.get("name") or ""),
                                       protocol=str(p.get("protocol") or "TCP")))
    return ports


def pod_from_manifest(namespace: str, metadata: dict, spec: dict, status: dict | None, source: str = "") -> Pod:
    """A Pod from its manifest parts (`kubectl get pod -o yaml` form: status.podIP and conditions are honoured)."""
    status = status or {}
    name = str(metadata.get("name") or "")
    ready = True
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            ready = str(cond.get("status")) == "True"
    if status.get("phase") in ("Failed", "Succeeded", "Pending") and "conditions" not in status:
        ready = False
    owner = None
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("controller", True):
            owner = f"{ref.get('kind')}/{ref.get('name')}"
    return Pod(
        namespace=namespace,
        name=name,
        labels={str(k): "" if v is None else str(v) for k, v in (metadata.get("labels") or {}).items()},
        node_name=spec.get("nodeName") or None,
        ip=status.get("podIP") or None,
        ports=parse_container_ports(spec, f"{source or 'pod'}: Pod {name!r}"),
        node_selector={str(k): "" if v is None else str(v) for k, v in (spec.get("nodeSelector") or {}).items()},
        ready=ready,
        terminating=bool(metadata.get("deletionTimestamp")),
        host_network=bool(spec.get("hostNetwork")),
        owner=owner,
        hostname=spec.get("hostname") or None,
        subdomain=spec.get("subdomain") or None,
        source=source,
    )


def validate_pod(pod: Pod) -> None:
    """The API server's checks kplab can meet: the name, and container port names (targetPorts refer to them)."""
    errs: list[str] = []
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", pod.name) \
            or len(pod.name) > 253:
        errs.append(field_invalid("metadata.name", pod.name, DNS1123_SUBDOMAIN))
    for i, p in enumerate(pod.ports):
        if not 1 <= p.port <= 65535:
            errs.append(field_invalid(f"spec.containers[*].ports[{i}].containerPort", p.port,
                                      "must be between 1 and 65535, inclusive"))
    if pod.ip is not None:
        try:
            ipaddress.ip_address(pod.ip)
        except ValueError:
            errs.append(field_invalid("status.podIP", pod.ip, "must be a valid IP address"))
    if errs:
        raise invalid("Pod", pod.name, errs, pod.source)
