"""Reading Kubernetes manifests: files or folders, multi-document YAML (or JSON), and `kind: List` as
`kubectl get ... -o yaml` prints it. Every object remembers `file:line` so errors can point at it.

Kinds read: Namespace, Node, Pod, Service, EndpointSlice, Endpoints (mirrored to EndpointSlices), NetworkPolicy,
Deployment, ReplicaSet, StatefulSet, DaemonSet, kubeadm's ClusterConfiguration and KubeProxyConfiguration (also
inside kube-proxy's ConfigMap). Other kinds (other ConfigMaps, Ingress, ...) are listed in one warning and skipped. A folder is read like `kubectl apply -f DIR`:
its *.yaml, *.yml and *.json files in name order, not descending into sub-folders.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from kplab.errors import KplabError
from kplab.textfile import read_text
from kplab.k8s import schema
from kplab.k8s.schema import short
from kplab.k8s.endpointslice import MIRRORING_CONTROLLER, Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.apistatus import DNS1123_LABEL, DNS1123_SUBDOMAIN, field_invalid, field_required, invalid
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import Pod, pod_from_manifest
from kplab.k8s.service import LoadBalancerIngress, Service, ServicePort
from kplab.k8s.settings import ClusterSettings, ProxySettings
from kplab.k8s.workload import KINDS as WORKLOAD_KINDS
from kplab.k8s.workload import Workload, random_suffix

SUFFIXES = (".yaml", ".yml", ".json")
# Every object's name is at least a DNS-1123 subdomain and its namespace a DNS-1123 label (apimachinery's
# ValidateObjectMeta); kinds with stricter names (Service, Namespace) check those in their own validators.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_OWN_NAME_RULES = {"Service", "Namespace", "Pod", *WORKLOAD_KINDS}  # their validators word their own name rules
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass
class Manifests:
    """Objects as read, before the control plane (Cluster.from_objects) completes them."""

    namespaces: list[Namespace] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    endpointslices: list[EndpointSlice] = field(default_factory=list)
    networkpolicies: list[NetworkPolicy] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    settings: ClusterSettings = field(default_factory=ClusterSettings)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # unknown kind -> count


def load_cluster(*paths: str | Path):
    """Read manifests (files or folders) and run the control plane on them, with a real cluster's defaults."""
    return _cluster(read_manifests(*paths))


def load_cluster_text(text: str, source: str = "<yaml>"):
    """The same as load_cluster, for manifests given as YAML text (errors name `source` and the line)."""
    m = Manifests()
    for obj, line, node in _documents_text(text, source):
        _add(m, obj, f"{source}:{line}", node)
    _warn_skipped(m)
    return _cluster(m)


def _cluster(m: Manifests):
    from kplab.k8s.cluster import Cluster

    return Cluster.from_objects(namespaces=m.namespaces, nodes=m.nodes, pods=m.pods, services=m.services,
                                endpointslices=m.endpointslices, networkpolicies=m.networkpolicies,
                                workloads=m.workloads, settings=m.settings, proxy=m.proxy, defaults=True,
                                warnings=m.warnings)


MAX_FILE_BYTES = 64 << 20  # larger than any cluster's `kubectl get all -A -o yaml`; etcd holds 1.5 MiB per object
MAX_ALIAS_NODES = 1_000_000  # nodes YAML aliases may add; go-yaml (kubectl) refuses "excessive aliasing" likewise
MAX_DEPTH = 200  # nesting; Kubernetes objects go about 20 deep


def manifest_files(*paths: str | Path) -> list[Path]:
    """The files to read, as `kubectl apply -f` picks them: a folder's *.yaml, *.yml and *.json (not descending),
    and any other path as a file — a pipe (`<(...)`), a FIFO or /dev/null too."""
    if not paths:
        raise KplabError("no manifest given: pass one or more files or folders")
    files: list[Path] = []
    for p in map(Path, paths):
        if str(p) == "":
            raise KplabError('the path "" does not exist')
        if p.is_dir():
            try:
                entries = sorted(p.iterdir())
            except OSError as e:
                raise KplabError(f'error: cannot list folder "{p}": {e.strerror or e}') from None
            found = [f for f in entries if f.suffix in SUFFIXES and f.is_file()]
            if not found:
                raise KplabError(f'error: no objects passed to apply: folder "{p}" holds no .yaml, .yml or .json file')
            files.extend(found)
        elif os.path.lexists(p) and p.exists():
            files.append(p)
        else:
            raise KplabError(f'the path "{p}" does not exist')
    return files


def read_manifests(*paths: str | Path) -> Manifests:
    m = Manifests()
    for path in manifest_files(*paths):
        for obj, line, node in documents(path):
            _add(m, obj, f"{path}:{line}", node)
    _warn_skipped(m)
    return m


def _warn_skipped(m: Manifests) -> None:
    if m.skipped:
        kinds = ", ".join(f"{k} ({n})" for k, n in sorted(m.skipped.items()))
        m.warnings.insert(0, f"skipped objects of kinds kplab does not model: {kinds}")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present: same result, faster
    """YAML as Kubernetes reads it (sigs.k8s.io/yaml: YAML -> JSON): timestamps stay text, mapping keys become
    strings, !!set is a mapping, !!omap/!!pairs a list of one-key mappings, !!binary its base64 text."""


def _json_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode):
    data: dict[str, Any] = {}
    yield data
    value = loader.construct_mapping(node)
    data.update((k if isinstance(k, str) else _json_key(k), v) for k, v in value.items())


def _construct_set(loader: yaml.SafeLoader, node: yaml.MappingNode):
    data: dict[str, Any] = {}
    yield data
    data.update((_json_key(k), None) for k in loader.construct_mapping(node))


def _construct_pairs(loader: yaml.SafeLoader, node: yaml.Node):
    items: list[Any] = []
    yield items
    items.extend(loader.construct_sequence(node, deep=True))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:set", _construct_set)
_Loader.add_constructor("tag:yaml.org,2002:omap", _construct_pairs)
_Loader.add_constructor("tag:yaml.org,2002:pairs", _construct_pairs)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: str(node.value))
_Loader.add_constructor("tag:yaml.org,2002:binary", lambda loader, node: "".join(str(node.value).split()))


def _check_size(node: yaml.Node, where: str) -> None:
    """Refuse a document whose aliases expand past MAX_ALIAS_NODES nodes (a "billion laughs" bomb), that refers
    to itself, or that nests deeper than MAX_DEPTH — before anything expands it. Iterative, linear in the nodes."""
    expanded: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded
    distinct = 0
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 1, False)]
    open_: set[int] = set()
    while stack:
        n, depth, done = stack.pop()
        key = id(n)
        if done:
            open_.discard(key)
            children = _children(n)
            expanded[key] = 1 + sum(expanded[id(c)] for c in children)
            continue
        if key in expanded:
            continue
        if key in open_:
            raise KplabError(f"{where}: YAML alias refers to the node that holds it (recursive): not JSON")
        if depth > MAX_DEPTH:
            raise KplabError(f"{where}: nested more than {MAX_DEPTH} levels deep: not a Kubernetes object")
        distinct += 1
        open_.add(key)
        stack.append((n, depth, True))
        for c in _children(n):
            if id(c) not in expanded:
                stack.append((c, depth + 1, False))
    if expanded[id(node)] - distinct > MAX_ALIAS_NODES:
        raise KplabError(f"{where}: document contains excessive aliasing: its YAML aliases expand to "
                         f"{expanded[id(node)]:,} values (kplab, like kubectl, refuses such a document)")


def _children(n: yaml.Node) -> list[yaml.Node]:
    if isinstance(n, yaml.SequenceNode):
        return n.value
    if isinstance(n, yaml.MappingNode):
        return [x for pair in n.value for x in pair]
    return []


def documents(path: Path) -> Iterator[tuple[Any, int, yaml.Node]]:
    """Each YAML document of the file with its first line and its YAML node; `kind: List` items come out one by
    one."""
    return _documents_text(read_text(path, MAX_FILE_BYTES, "manifest"), str(path))


def _documents_text(text: str, path: str) -> Iterator[tuple[Any, int, yaml.Node]]:
    anchors = "&" in text  # without an anchor there is no alias to expand (and nesting is bounded by the text)
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            if anchors:
                _check_size(node, f"{path}:{line}")
            data = loader.construct_document(node)
            if data is None:
                continue
            if isinstance(data, dict) and data.get("kind") == "List" or (
                    isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"].endswith("List")
                    and isinstance(data.get("items"), list)):
                schema.check(data, f"{path}:{line}")
                items_node = _child(node, "items")
                for i, item in enumerate(data.get("items") or []):
                    item_node = items_node.value[i] if isinstance(items_node, yaml.SequenceNode) else node
                    yield item, item_node.start_mark.line + 1, item_node
            else:
                yield data, line, node
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        raise KplabError(f"{where}: YAML syntax error: {problem}" + (f" ({context})" if context else "")) from None
    except RecursionError:
        raise KplabError(f"{path}: YAML nested too deeply: not a Kubernetes object") from None
    finally:
        loader.dispose()


def _line(node: yaml.Node, keys: tuple[Any, ...]) -> int | None:
    """The line of the field at `keys` under `node` (of its key, for a mapping entry), or None."""
    at = node
    line = None
    for k in keys:
        if isinstance(at, yaml.MappingNode):
            for kn, vn in at.value:
                if isinstance(kn, yaml.ScalarNode) and kn.value == str(k):
                    line, at = kn.start_mark.line + 1, vn
                    break
            else:
                return line
        elif isinstance(at, yaml.SequenceNode) and isinstance(k, int) and 0 <= k < len(at.value):
            at = at.value[k]
            line = at.start_mark.line + 1
        else:
            return line
    return line


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def _labels(meta: dict) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in (meta.get("labels") or {}).items()}


def _int(value: Any, where: str, what: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # YAML 80.0 is JSON 80: the API server reads it as 80
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).lstrip("-").isdigit():
        raise KplabError(f"{where}: {what}: {value!r} is not a number")
    return int(value)


def _add(m: Manifests, obj: Any, where: str, node: yaml.Node | None = None) -> None:
    if not isinstance(obj, dict):
        raise KplabError(f"{where}: error validating data: expected a Kubernetes object (a mapping), "
                         f"got {type(obj).__name__}")
    taken = schema.check(obj, where, (lambda keys: _line(node, keys)) if node is not None else None)
    kind = obj["kind"]
    if taken == "custom":
        m.skipped[kind] = m.skipped.get(kind, 0) + 1
        return
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    namespace = meta.get("namespace") or "default"
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if taken == "config":
        for section in ("networking", "apiServer", "controllerManager", "iptables"):
            if obj.get(section) is not None and not isinstance(obj[section], dict):
                raise KplabError(f"{where}: {kind}: {section}: expected a mapping, got {short(obj[section])}")
    elif not name and kind in _READERS:
        raise invalid(kind, "", [field_required("metadata.name", "name or generateName is required")], where)
    elif kind in _READERS:
        causes = []
        if kind not in _OWN_NAME_RULES and (len(name) > 253 or not _SUBDOMAIN.fullmatch(name)):
            causes.append(field_invalid("metadata.name", name, DNS1123_SUBDOMAIN))
        if "namespace" in meta and meta["namespace"] is not None and not _LABEL.fullmatch(meta["namespace"]):
            causes.append(field_invalid("metadata.namespace", meta["namespace"], DNS1123_LABEL))
        if causes:
            version = obj.get("apiVersion") or ""
            raise invalid(f"{kind}.{version.split('/')[0]}" if "/" in version else kind, name, causes, where)
    reader = _READERS.get(kind)
    if reader is None:
        if taken == "config":
            return  # kubeadm's and the kubelet's other documents: nothing kplab models
        m.skipped[kind] = m.skipped.get(kind, 0) + 1
        return
    reader(m, obj, meta, name, namespace, spec, status, where)


def _namespace(m, obj, meta, name, namespace, spec, status, where) -> None:
    m.namespaces.append(Namespace(name=name, labels=_labels(meta)))


def _node(m, obj, meta, name, namespace, spec, status, where) -> None:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **_labels(meta)}
    addresses = [NodeAddress(a.get("type") or "", a.get("address") or "") for a in status.get("addresses") or []]
    cidr = spec.get("podCIDR") or (spec.get("podCIDRs") or [None])[0]
    ready = True
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            ready = str(cond.get("status")) == "True"
    if spec.get("unschedulable"):
        ready = False
    m.nodes.append(Node(name=name, labels=labels, addresses=addresses, pod_cidr=cidr, ready=ready, source=where))


def _pod(m, obj, meta, name, namespace, spec, status, where) -> None:
    m.pods.append(pod_from_manifest(namespace, meta, spec, status, where))


def _service(m, obj, meta, name, namespace, spec, status, where) -> None:
    svc_type = str(spec.get("type") or "ClusterIP")
    cluster_ip = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0] or None
    ports = []
    for i, p in enumerate(spec.get("ports") or []):
        what = f'Service "{name}" spec.ports[{i}]'
        if not isinstance(p, dict):
            raise KplabError(f"{where}: {what}: expected a mapping")
        port = _int(p.get("port", 0), where, f"{what}.port")
        target = p.get("targetPort")
        if target is None or target == "" or target == 0:
            target = port  # the API server defaults targetPort to port
        elif isinstance(target, (int, float)) and not isinstance(target, bool):
            target = int(target)
        else:
            target = str(target)
        ports.append(ServicePort(port=port, protocol=str(p.get("protocol") or "TCP"), name=str(p.get("name") or ""),
                                 target_port=target,
                                 node_port=_int(p.get("nodePort") or 0, where, f"{what}.nodePort")))
    selector = spec.get("selector")
    selector = {str(k): "" if v is None else v for k, v in selector.items()} if selector else None
    etp = spec.get("externalTrafficPolicy") or None
    if etp is None and svc_type in ("NodePort", "LoadBalancer"):
        etp = "Cluster"
    itp = spec.get("internalTrafficPolicy") or None
    if itp is None and svc_type != "ExternalName":
        itp = "Cluster"
    affinity = str(spec.get("sessionAffinity") or "None")
    timeout = (((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds"))
    if affinity == "ClientIP" and timeout is None:
        timeout = 10800
    ingress = [LoadBalancerIngress(ip=str(i.get("ip") or ""), hostname=str(i.get("hostname") or ""),
                                   ip_mode=i.get("ipMode")) for i in (status.get("loadBalancer") or {}).get("ingress")
               or []]
    m.services.append(Service(
        namespace=namespace, name=name, type=svc_type,
        cluster_ip=str(cluster_ip) if cluster_ip is not None else None,
        ports=ports, selector=selector, external_traffic_policy=etp, internal_traffic_policy=itp,
        external_ips=[x for x in spec.get("externalIPs") or [] if x is not None],
        external_name=spec.get("externalName") or None,
        session_affinity=affinity, session_affinity_timeout=int(timeout) if timeout is not None else None,
        load_balancer_source_ranges=[x for x in spec.get("loadBalancerSourceRanges") or [] if x is not None],
        load_balancer_ingress=ingress,
        health_check_node_port=_int(spec.get("healthCheckNodePort") or 0, where,
                                    f'Service "{name}" spec.healthCheckNodePort'),
        labels=_labels(meta),
        allocate_load_balancer_node_ports=spec.get("allocateLoadBalancerNodePorts", True) is not False,
        publish_not_ready_addresses=bool(spec.get("publishNotReadyAddresses")),
        source=where))


def _endpointslice(m, obj, meta, name, namespace, spec, status, where) -> None:
    labels = _labels(meta)
    endpoints = []
    for ep in obj.get("endpoints") or []:
        cond = ep.get("conditions") or {}
        ref = ep.get("targetRef") or {}
        endpoints.append(Endpoint(
            addresses=[a for a in ep.get("addresses") or [] if a is not None],
            ready=cond.get("ready"), serving=cond.get("serving"), terminating=cond.get("terminating"),
            node_name=ep.get("nodeName"),
            target_ref=f"{ref.get('namespace') or namespace}/{ref['name']}" if ref.get("name") else None,
            hostname=ep.get("hostname")))
    ports = [EndpointPort(port=None if p.get("port") is None else int(p["port"]), protocol=p.get("protocol") or "TCP",
                          name=p.get("name") or "") for p in obj.get("ports") or []]
    m.endpointslices.append(EndpointSlice(
        namespace=namespace, name=name, service_name=labels.get("kubernetes.io/service-name", ""),
        address_type=str(obj.get("addressType") or ""), endpoints=endpoints, ports=ports,
        managed_by=labels.get("endpointslice.kubernetes.io/managed-by", ""), source=where))


def _endpoints(m, obj, meta, name, namespace, spec, status, where) -> None:
    """A legacy Endpoints object, as the EndpointSlice mirroring controller copies it (one slice per subset)."""
    for i, subset in enumerate(obj.get("subsets") or []):
        ready = subset.get("addresses") or []
        not_ready = subset.get("notReadyAddresses") or []
        if not ready and not not_ready:
            raise invalid("Endpoints", name, [field_required(
                f"subsets[{i}]", "must specify `addresses` or `notReadyAddresses`")], where)
        endpoints = []
        for addrs, is_ready in ((ready, True), (not_ready, False)):
            for a in addrs:
                ref = a.get("targetRef") or {}
                endpoints.append(Endpoint(addresses=[a.get("ip") or ""], ready=is_ready, serving=is_ready,
                                          terminating=False, node_name=a.get("nodeName"),
                                          target_ref=f"{ref.get('namespace') or namespace}/{ref['name']}"
                                          if ref.get("name") else None, hostname=a.get("hostname")))
        family = "IPv6" if ":" in str(endpoints[0].addresses[0]) else "IPv4"
        ports = [EndpointPort(port=None if p.get("port") is None else int(p["port"]), protocol=p.get("protocol") or "TCP",
                              name=p.get("name") or "") for p in subset.get("ports") or []]
        m.endpointslices.append(EndpointSlice(
            namespace=namespace, name=f"{name[:57]}-{random_suffix(f'{namespace}/{name}#mirror#{i}')}",
            service_name=name, address_type=family, endpoints=endpoints, ports=ports,
            managed_by=MIRRORING_CONTROLLER, source=where))


def _networkpolicy(m, obj, meta, name, namespace, spec, status, where) -> None:
    m.networkpolicies.append(NetworkPolicy(namespace=namespace, name=name, spec=dict(spec), source=where))


def _workload(m, obj, meta, name, namespace, spec, status, where) -> None:
    kind = obj["kind"]
    owner = None
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "Deployment":
            owner = f"Deployment/{ref.get('name')}"
    replicas = spec.get("replicas", 1)
    m.workloads.append(Workload(
        kind=kind, namespace=namespace, name=name, selector=spec.get("selector"),
        template=spec.get("template") or {}, replicas=1 if replicas is None else _int(replicas, where,
                                                                                       f"{kind} {name!r} spec.replicas"),
        service_name=spec.get("serviceName") or None, owner=owner, source=where))


def _extra_args(section: dict) -> dict[str, str]:
    """kubeadm extraArgs: a map in v1beta3, a list of {name, value} in v1beta4."""
    args = section.get("extraArgs") or {}
    if isinstance(args, list):
        return {str(a.get("name")): str(a.get("value")) for a in args if isinstance(a, dict)}
    return {str(k): str(v) for k, v in args.items()}


def _cluster_configuration(m, obj, meta, name, namespace, spec, status, where) -> None:
    s = m.settings
    net = obj.get("networking") or {}
    try:
        if net.get("podSubnet"):
            s.pod_subnet = str(ipaddress.ip_network(str(net["podSubnet"]).split(",")[0].strip(), strict=False))
        if net.get("serviceSubnet"):
            s.service_subnet = str(ipaddress.ip_network(str(net["serviceSubnet"]).split(",")[0].strip(),
                                                        strict=False))
    except ValueError as e:
        raise KplabError(f"{where}: ClusterConfiguration networking: {e}") from None
    if net.get("dnsDomain"):
        s.dns_domain = str(net["dnsDomain"])
    api_args = _extra_args(obj.get("apiServer") or {})
    if "service-node-port-range" in api_args:
        text = api_args["service-node-port-range"]
        try:
            if "+" in text:
                low, count = (int(x) for x in text.split("+"))
                s.node_port_range = (low, low + count)
            else:
                low, high = (int(x) for x in text.split("-"))
                s.node_port_range = (low, high)
        except ValueError:
            raise KplabError(f"{where}: apiServer service-node-port-range {text!r} is not like 30000-32767") from None
    cm_args = _extra_args(obj.get("controllerManager") or {})
    for key in ("node-cidr-mask-size-ipv4", "node-cidr-mask-size"):
        if key in cm_args:
            s.node_cidr_mask = _int(cm_args[key], where, f"controllerManager {key}")
            break


def _kube_proxy_configuration(m, obj, meta, name, namespace, spec, status, where) -> None:
    p = m.proxy
    mode = str(obj.get("mode") or "iptables")
    if mode != "iptables":
        m.warnings.append(f"{where}: kube-proxy mode {mode!r}: kplab models the iptables mode and uses it instead")
    p.mode = "iptables"
    if obj.get("clusterCIDR"):
        p.cluster_cidr = str(obj["clusterCIDR"])
    ipt = obj.get("iptables") or {}
    if ipt.get("masqueradeBit") is not None:
        p.masquerade_bit = _int(ipt["masqueradeBit"], where, "iptables.masqueradeBit")
    if ipt.get("masqueradeAll") is not None:
        p.masquerade_all = bool(ipt["masqueradeAll"])
    if ipt.get("localhostNodePorts") is not None:
        p.localhost_node_ports = bool(ipt["localhostNodePorts"])
    if obj.get("nodePortAddresses") is not None:
        p.node_port_addresses = [str(x) for x in obj["nodePortAddresses"] or []]
    if obj.get("detectLocalMode"):
        p.detect_local_mode = str(obj["detectLocalMode"])
    detect = obj.get("detectLocal") or {}
    if not isinstance(detect, dict):
        raise KplabError(f"{where}: KubeProxyConfiguration detectLocal must be a map "
                         f"(bridgeInterface, interfaceNamePrefix)")
    p.bridge_interface = str(detect.get("bridgeInterface") or "")
    p.interface_name_prefix = str(detect.get("interfaceNamePrefix") or "")
    # kube-proxy's validation (validateKubeProxyConfiguration): the chosen mode's field must be set
    for mode, value, field_name in (("BridgeInterface", p.bridge_interface, "bridgeInterface"),
                                    ("InterfaceNamePrefix", p.interface_name_prefix, "interfaceNamePrefix")):
        if p.detect_local_mode == mode and not value:
            raise KplabError(f"{where}: KubeProxyConfiguration detectLocal.{field_name}: Invalid value: \"\": "
                             f"must not be empty with detectLocalMode {mode}")


def _config_map(m, obj, meta, name, namespace, spec, status, where) -> None:
    """A ConfigMap is skipped, unless it holds kube-proxy's settings the way clusters keep them: kubeadm's
    kube-system/kube-proxy with `data.config.conf` (EKS: kube-proxy-config, `data.config`), a KubeProxyConfiguration
    as YAML text. That is read like a KubeProxyConfiguration document."""
    data = obj.get("data") or {}
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(value, str) or "KubeProxyConfiguration" not in value:
                continue
            inner_where = f"{where} (ConfigMap {namespace}/{name}, data.{key})"
            try:
                inner = yaml.safe_load(value)
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                at = f" line {mark.line + 1} of the value" if mark else ""
                raise KplabError(f"{inner_where}: YAML syntax error{at}: "
                                 f"{getattr(e, 'problem', None) or e}") from None
            if isinstance(inner, dict) and inner.get("kind") == "KubeProxyConfiguration":
                _kube_proxy_configuration(m, inner, {}, "", "", {}, {}, inner_where)
                return
    m.skipped["ConfigMap"] = m.skipped.get("ConfigMap", 0) + 1


def _ip_pool(m, obj, meta, name, namespace, spec, status, where) -> None:
    """Calico's IPPool (crd.projectcalico.org/v1 or projectcalico.org/v3), as `kubectl get ippools -o yaml` prints
    it: its presence says the cluster's CNI is Calico; ipipMode / vxlanMode say how pods' packets cross nodes."""
    group = str(obj.get("apiVersion", "")).split("/")[0]
    if group not in ("crd.projectcalico.org", "projectcalico.org"):
        m.skipped["IPPool"] = m.skipped.get("IPPool", 0) + 1
        return
    s = m.settings
    s.cni = "calico"
    modes = {}
    for key, overlay in (("ipipMode", "ipip"), ("vxlanMode", "vxlan")):
        mode = str(spec.get(key) or "Never")
        if mode not in ("Never", "Always", "CrossSubnet"):
            raise KplabError(f"{where}: IPPool {name!r} spec.{key}: {mode!r} is not one of Never, Always, CrossSubnet")
        modes[overlay] = mode
    on = [o for o, mode in modes.items() if mode != "Never"]
    if len(on) > 1:
        raise KplabError(f"{where}: IPPool {name!r}: ipipMode and vxlanMode cannot both be enabled (Calico refuses it)")
    s.overlay = on[0] if on else None
    if on and modes[on[0]] == "CrossSubnet":
        m.warnings.append(f"{where}: IPPool {name!r} {on[0]} CrossSubnet: kplab encapsulates between every pair of "
                          f"nodes, as Always does (nodes on one subnet would use plain routes)")


_READERS = {
    "IPPool": _ip_pool,
    "Namespace": _namespace,
    "Node": _node,
    "Pod": _pod,
    "Service": _service,
    "EndpointSlice": _endpointslice,
    "Endpoints": _endpoints,
    "NetworkPolicy": _networkpolicy,
    "ClusterConfiguration": _cluster_configuration,
    "KubeProxyConfiguration": _kube_proxy_configuration,
    "ConfigMap": _config_map,
    **{k: _workload for k in WORKLOAD_KINDS},
}


def find_data_dir(start: str | Path | None = None) -> Path:
    """The repository's data/ folder, looked for from `start` (default: the working directory) upwards, so a
    notebook finds it whatever folder Jupyter runs it from."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "data" / "article").is_dir():
            return folder / "data"
    raise KplabError(f"no data/ folder with the article's manifests found in {here} or its parents")
