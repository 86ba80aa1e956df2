"""The EndpointSlice controller: which pods back each Service, with their conditions and resolved ports.

For every Service with a selector (ExternalName excepted) it selects the pods of the Service's namespace whose labels
carry every selector pair and that have an IP, and writes one Endpoint per pod:
- ready = pod Ready and not terminating; serving = pod Ready; terminating = being deleted
  (publishNotReadyAddresses makes every endpoint ready and serving);
- nodeName, targetRef, and hostname when the pod's subdomain names this Service (StatefulSet pods);
- ports: each Service port's targetPort resolved *per pod* — a number as is, a name looked up in that pod's
  container ports (a pod lacking the name gets no entry for that port). Pods whose ports resolve differently go to
  different slices, as in Kubernetes, at most 100 endpoints per slice.
A Service with no matching pods gets one empty placeholder slice. Slices are named `<service>-<5 chars>`.

Slices given in the manifests are kept. If one of them says the controller made it (`managed-by:
endpointslice-controller.k8s.io`, as `kubectl get endpointslices -o yaml` prints), kplab takes the given slices as
the controller's current state and derives nothing for that Service. Slices mirrored from a legacy `Endpoints`
object count only for selector-less Services, as the mirroring controller does.
"""
from __future__ import annotations

from kplab.k8s.endpointslice import CONTROLLER, MIRRORING_CONTROLLER, Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.labelselector import map_matches
from kplab.k8s.pod import Pod
from kplab.k8s.service import Service, ServicePort
from kplab.k8s.workload import random_suffix

MAX_ENDPOINTS_PER_SLICE = 100


def resolve_target_port(port: ServicePort, pod: Pod) -> int | None:
    """The pod port a Service port sends to: a number as is, a name through the pod's container ports."""
    target = port.target_port if port.target_port not in (None, "", 0) else port.port
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for cp in pod.ports:
        if cp.name == target and cp.protocol == port.protocol:
            return cp.port
    return None


def endpoint_for(service: Service, pod: Pod) -> Endpoint:
    publish = service.publish_not_ready_addresses
    return Endpoint(
        addresses=[pod.ip],
        ready=True if publish else (pod.ready and not pod.terminating),
        serving=True if publish else pod.ready,
        terminating=pod.terminating,
        node_name=pod.node_name,
        target_ref=pod.key,
        hostname=pod.hostname if pod.hostname and pod.subdomain == service.name else None,
    )


def slices_for_service(service: Service, pods: list[Pod], taken: set[str]) -> list[EndpointSlice]:
    """The slices the controller writes for one Service with a selector."""
    groups: dict[tuple, list[Endpoint]] = {}
    for pod in pods:
        if pod.namespace != service.namespace or not pod.ip or not map_matches(service.selector, pod.labels):
            continue
        ports = []
        for sp in service.ports:
            number = resolve_target_port(sp, pod)
            if number is not None:
                ports.append((sp.name, number, sp.protocol))
        groups.setdefault(tuple(ports), []).append(endpoint_for(service, pod))
    if not groups:
        groups[()] = []
    slices = []
    for index, (ports, endpoints) in enumerate(groups.items()):
        chunks = [endpoints[i:i + MAX_ENDPOINTS_PER_SLICE]
                  for i in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE)] or [[]]
        for part, chunk in enumerate(chunks):
            attempt = 0
            while True:
                name = f"{service.name[:57]}-" + random_suffix(f"{service.key}#{index}#{part}#{attempt}")
                if f"{service.namespace}/{name}" not in taken:
                    break
                attempt += 1
            taken.add(f"{service.namespace}/{name}")
            slices.append(EndpointSlice(
                namespace=service.namespace, name=name, service_name=service.name,
                endpoints=chunk, ports=[EndpointPort(port=n, protocol=proto, name=nm) for nm, n, proto in ports],
                managed_by=CONTROLLER))
    return slices


def run_endpoints_controller(services: list[Service], pods: list[Pod],
                             given: list[EndpointSlice]) -> tuple[list[EndpointSlice], list[str]]:
    """All EndpointSlices after the controllers ran: given ones kept (mirrored ones only where they apply) plus the
    derived ones. Returns (slices, warnings)."""
    warnings: list[str] = []
    by_key = {s.key: s for s in services}
    kept: list[EndpointSlice] = []
    for s in given:
        svc = by_key.get(f"{s.namespace}/{s.service_name}")
        if s.managed_by == MIRRORING_CONTROLLER and (svc is None or svc.selector is not None):
            warnings.append(f'Endpoints "{s.namespace}/{s.service_name}" not mirrored to an EndpointSlice: '
                            + ("no such Service" if svc is None else "its Service has a selector"))
            continue
        if not s.service_name:
            warnings.append(f'EndpointSlice "{s.key}" has no kubernetes.io/service-name label; kube-proxy ignores it')
        kept.append(s)
    taken = {s.key for s in kept}
    controller_made = {(s.namespace, s.service_name) for s in kept if s.managed_by == CONTROLLER}
    derived: list[EndpointSlice] = []
    for svc in services:
        if svc.selector is None or svc.type == "ExternalName":
            continue
        if (svc.namespace, svc.name) in controller_made:
            continue
        derived.extend(slices_for_service(svc, pods, taken))
    return kept + derived, warnings
