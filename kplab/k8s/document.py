"""Objects back as Kubernetes-shaped dicts, with what kplab allocated filled in (for `kplab get -o yaml|json`).

Pods show their ports under one container entry: kplab keeps a pod's container ports, not which container
declared them.
"""
from __future__ import annotations

from typing import Any

from kplab.k8s.cluster import Cluster
from kplab.k8s.endpointslice import EndpointSlice
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node
from kplab.k8s.pod import Pod
from kplab.k8s.service import Service


def _meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def namespace_doc(n: Namespace) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(n.name, labels=n.labels)}


def node_doc(n: Node) -> dict[str, Any]:
    spec = {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr]} if n.pod_cidr else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": _meta(n.name, labels=n.labels), "spec": spec,
            "status": {"addresses": [{"type": a.type, "address": a.address} for a in n.addresses],
                       "conditions": [{"type": "Ready", "status": "True" if n.ready else "False"}]}}


def pod_doc(p: Pod, cluster: Cluster | None = None) -> dict[str, Any]:
    meta = _meta(p.name, p.namespace, p.labels)
    if p.owner:
        kind, name = p.owner.split("/", 1)
        meta["ownerReferences"] = [{"kind": kind, "name": name, "controller": True}]
    spec: dict[str, Any] = {}
    if p.node_name:
        spec["nodeName"] = p.node_name
    if p.node_selector:
        spec["nodeSelector"] = dict(p.node_selector)
    if p.host_network:
        spec["hostNetwork"] = True
    if p.hostname:
        spec["hostname"] = p.hostname
    if p.subdomain:
        spec["subdomain"] = p.subdomain
    spec["containers"] = [{"ports": [{"containerPort": c.port, "protocol": c.protocol, **({"name": c.name}
                                                                                          if c.name else {})}
                                     for c in p.ports]}]
    status: dict[str, Any] = {"phase": p.phase,
                              "conditions": [{"type": "Ready", "status": "True" if p.ready else "False"}]}
    if cluster is not None and p.node_name in cluster.nodes and cluster.nodes[p.node_name].internal_ip:
        status["hostIP"] = cluster.nodes[p.node_name].internal_ip
    if p.ip:
        status["podIP"] = p.ip
        status["podIPs"] = [{"ip": p.ip}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def service_doc(s: Service) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": s.type}
    if s.cluster_ip:
        spec["clusterIP"] = s.cluster_ip
        spec["clusterIPs"] = [s.cluster_ip]
    if s.external_name:
        spec["externalName"] = s.external_name
    ports = []
    for p in s.ports:
        port: dict[str, Any] = {"port": p.port, "protocol": p.protocol}
        if p.name:
            port["name"] = p.name
        port["targetPort"] = p.target_port if p.target_port is not None else p.port
        if p.node_port:
            port["nodePort"] = p.node_port
        ports.append(port)
    if ports:
        spec["ports"] = ports
    if s.selector is not None:
        spec["selector"] = dict(s.selector)
    if s.external_traffic_policy:
        spec["externalTrafficPolicy"] = s.external_traffic_policy
    if s.internal_traffic_policy:
        spec["internalTrafficPolicy"] = s.internal_traffic_policy
    spec["sessionAffinity"] = s.session_affinity
    if s.session_affinity == "ClientIP" and s.session_affinity_timeout is not None:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": s.session_affinity_timeout}}
    if s.external_ips:
        spec["externalIPs"] = list(s.external_ips)
    if s.load_balancer_source_ranges:
        spec["loadBalancerSourceRanges"] = list(s.load_balancer_source_ranges)
    if s.health_check_node_port:
        spec["healthCheckNodePort"] = s.health_check_node_port
    if s.publish_not_ready_addresses:
        spec["publishNotReadyAddresses"] = True
    ingress = []
    for i in s.load_balancer_ingress:
        entry = {k: v for k, v in (("ip", i.ip), ("hostname", i.hostname), ("ipMode", i.ip_mode)) if v}
        ingress.append(entry)
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(s.name, s.namespace, s.labels), "spec": spec,
            "status": {"loadBalancer": {"ingress": ingress} if ingress else {}}}


def endpointslice_doc(s: EndpointSlice) -> dict[str, Any]:
    labels = {"kubernetes.io/service-name": s.service_name} if s.service_name else {}
    if s.managed_by:
        labels["endpointslice.kubernetes.io/managed-by"] = s.managed_by
    endpoints = []
    for e in s.endpoints:
        ep: dict[str, Any] = {"addresses": list(e.addresses)}
        cond = {k: v for k, v in (("ready", e.ready), ("serving", e.serving), ("terminating", e.terminating))
                if v is not None}
        ep["conditions"] = cond
        if e.hostname:
            ep["hostname"] = e.hostname
        if e.node_name:
            ep["nodeName"] = e.node_name
        if e.target_ref:
            ns, name = e.target_ref.split("/", 1)
            ep["targetRef"] = {"kind": "Pod", "namespace": ns, "name": name}
        endpoints.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": _meta(s.name, s.namespace, labels), "addressType": s.address_type,
            "endpoints": endpoints,
            "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in s.ports]}


def networkpolicy_doc(p: NetworkPolicy) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(p.name, p.namespace),
            "spec": p.spec}


def list_doc(items: list[dict[str, Any]]) -> dict[str, Any]:
    """`kind: List`, as kubectl prints several objects (and as load_cluster reads them back)."""
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
