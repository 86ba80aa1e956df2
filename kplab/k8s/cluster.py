"""Cluster: every object kplab knows, after allocation (IPs, node ports) and the endpoints controller ran.

Two ways in: `load_cluster(paths)` (kplab.k8s.manifest) reads manifests; `Cluster.from_objects(...)` takes
dataclasses and runs the control plane on them (defaults off, so nothing is added that you did not give). Building
`Cluster(...)` directly stores the objects exactly as given and runs nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, TypeVar

from kplab.errors import KplabError
from kplab.k8s.endpointslice import EndpointSlice
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node
from kplab.k8s.pod import Pod
from kplab.k8s.service import Service
from kplab.k8s.settings import ClusterSettings, ProxySettings
from kplab.k8s.revision import Tracked

T = TypeVar("T")


def _as_list(objects: Iterable[T] | Mapping[str, T] | None) -> list[T]:
    if objects is None:
        return []
    if isinstance(objects, Mapping):
        return list(objects.values())
    return list(objects)


def _key(key: str) -> str:
    return key if "/" in key else f"default/{key}"


@dataclass
class Cluster(Tracked):
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    pods: dict[str, Pod] = field(default_factory=dict)  # key "ns/name"
    services: dict[str, Service] = field(default_factory=dict)  # key "ns/name"
    endpointslices: dict[str, EndpointSlice] = field(default_factory=dict)  # key "ns/name"
    networkpolicies: dict[str, NetworkPolicy] = field(default_factory=dict)  # key "ns/name"
    settings: ClusterSettings = field(default_factory=ClusterSettings)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    warnings: list[str] = field(default_factory=list)

    def slices_for(self, service: Service) -> list[EndpointSlice]:
        """The EndpointSlices labelled for this Service, in name order."""
        return sorted(
            (s for s in self.endpointslices.values()
             if s.namespace == service.namespace and s.service_name == service.name),
            key=lambda s: s.name,
        )

    # --- lookups: a missing object is the user's mistake, named the way kubectl names it ----------------------

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise KplabError(f'node "{name}" not found (nodes: {", ".join(self.nodes) or "none"})') from None

    def node_ip(self, name: str) -> str:
        """The node's InternalIP: the address kube-proxy and the CNI call the node IP."""
        ip = self.node(name).internal_ip
        if not ip:
            raise KplabError(f'node "{name}" has no InternalIP address')
        return ip

    def pod(self, key: str) -> Pod:
        """A pod by "namespace/name" (a bare name means the default namespace)."""
        try:
            return self.pods[_key(key)]
        except KeyError:
            raise KplabError(f'pod "{_key(key)}" not found') from None

    def service(self, key: str) -> Service:
        """A Service by "namespace/name" (a bare name means the default namespace)."""
        try:
            return self.services[_key(key)]
        except KeyError:
            raise KplabError(f'service "{_key(key)}" not found') from None

    def pods_on(self, node: str) -> list[Pod]:
        """Pods scheduled on `node`, in name order."""
        self.node(node)
        return sorted((p for p in self.pods.values() if p.node_name == node), key=lambda p: p.key)

    def pod_by_ip(self, ip: str) -> Pod | None:
        """The pod (not hostNetwork) holding `ip`, if any."""
        for p in self.pods.values():
            if p.ip == ip and not p.host_network:
                return p
        return None

    # --- the control plane --------------------------------------------------------------------------------------

    @classmethod
    def from_objects(cls, namespaces=None, nodes=None, pods=None, services=None, endpointslices=None,
                     networkpolicies=None, workloads=None, settings: ClusterSettings | None = None,
                     proxy: ProxySettings | None = None, defaults: bool = False,
                     warnings: list[str] | None = None) -> "Cluster":
        """Run what the control plane runs on these objects: validation, workload controllers, scheduling, address
        allocation and the endpoints controller. The dataclasses given are completed in place.

        defaults=True (what `load_cluster` uses) adds what a real cluster starts with (kplab.k8s.bootstrap): the
        two minikube nodes when no Node is given, `default/kubernetes`, and `kube-system/kube-dns` with CoreDNS
        unless a kube-dns Service is given."""
        from kplab.k8s import bootstrap
        from kplab.k8s.allocation import allocate_node_addresses, allocate_pod_ips, allocate_services
        from kplab.k8s.endpointscontroller import run_endpoints_controller
        from kplab.k8s.endpointslice import validate_endpointslice
        from kplab.k8s.namespace import validate_namespace
        from kplab.k8s.networkpolicy import validate_networkpolicy
        from kplab.k8s.node import validate_node
        from kplab.k8s.pod import validate_pod
        from kplab.k8s.scheduler import schedule
        from kplab.k8s.service import validate_service
        from kplab.k8s.workload import expand_workloads, validate_workload

        settings = settings or ClusterSettings()
        proxy = proxy or ProxySettings()
        notes = list(warnings or [])
        namespaces_l, nodes_l = _as_list(namespaces), _as_list(nodes)
        pods_l, services_l = _as_list(pods), _as_list(services)
        slices_l, policies_l = _as_list(endpointslices), _as_list(networkpolicies)
        workloads_l = _as_list(workloads)

        if defaults:
            if not nodes_l:
                nodes_l = bootstrap.default_nodes()
            if not any(s.namespace == "default" and s.name == "kubernetes" for s in services_l):
                svc, eps = bootstrap.kubernetes_service(settings, nodes_l)
                services_l.insert(0, svc)
                if not any(s.namespace == "default" and s.service_name == "kubernetes" for s in slices_l):
                    slices_l.insert(0, eps)
            if not any(s.namespace == "kube-system" and s.name == "kube-dns" for s in services_l):
                svc, coredns = bootstrap.cluster_dns(settings, nodes_l)
                services_l.insert(1, svc)
                if not any(w.namespace == "kube-system" and w.name == "coredns" for w in workloads_l):
                    workloads_l.insert(0, coredns)

        _unique("namespaces", [(n.name, n) for n in namespaces_l])
        _unique("nodes", [(n.name, n) for n in nodes_l])
        _unique("pods", [(p.key, p) for p in pods_l])
        _unique("services", [(s.key, s) for s in services_l])
        _unique("endpointslices.discovery.k8s.io", [(s.key, s) for s in slices_l])
        _unique("networkpolicies.networking.k8s.io", [(p.key, p) for p in policies_l])
        for kind in {w.kind for w in workloads_l}:
            _unique(f"{kind.lower()}s.apps", [(w.key, w) for w in workloads_l if w.kind == kind])

        for objects, validate in ((namespaces_l, validate_namespace), (nodes_l, validate_node), (pods_l, validate_pod),
                                  (services_l, validate_service), (slices_l, validate_endpointslice),
                                  (workloads_l, validate_workload), (policies_l, validate_networkpolicy)):
            for obj in objects:
                validate(obj)

        allocate_node_addresses(nodes_l, settings)
        # system pods first, as they exist before anything is applied
        pods_l = pods_l + expand_workloads(workloads_l, pods_l, nodes_l)
        pods_l.sort(key=lambda p: 0 if p.namespace == "kube-system" and p.source.startswith("<") else 1)
        notes += schedule(pods_l, nodes_l)
        notes += allocate_pod_ips(pods_l, nodes_l)
        allocate_services(services_l, settings)
        slices_l, more = run_endpoints_controller(services_l, pods_l, slices_l)
        notes += more

        ns = {n.name: n for n in namespaces_l}
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] if defaults else []:
            ns.setdefault(name, Namespace(name))
        for obj in [*pods_l, *services_l, *slices_l, *policies_l, *workloads_l]:
            ns.setdefault(obj.namespace, Namespace(obj.namespace))
        for n in ns.values():
            n.labels.setdefault("kubernetes.io/metadata.name", n.name)  # the API server always sets it

        return cls(
            namespaces=ns,
            nodes={n.name: n for n in nodes_l},
            pods={p.key: p for p in pods_l},
            services={s.key: s for s in services_l},
            endpointslices={s.key: s for s in slices_l},
            networkpolicies={p.key: p for p in policies_l},
            settings=settings,
            proxy=proxy,
            warnings=notes,
        )


def _unique(resource: str, items: list[tuple[str, object]]) -> None:
    seen: set[str] = set()
    for key, obj in items:
        if key in seen:
            from kplab.k8s.apistatus import already_exists
            raise already_exists(resource, key.split("/", 1)[-1], getattr(obj, "source", ""))
        seen.add(key)
