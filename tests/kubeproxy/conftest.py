"""kube-proxy conformance data, read in place from ../shared/conformance/kube-proxy/, turned into Clusters built
directly from the kplab.k8s dataclasses (no YAML), the way kube-proxy's own tests feed its proxier."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kplab.k8s.cluster import Cluster
from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.service import LoadBalancerIngress, Service, ServicePort
from kplab.k8s.settings import ProxySettings

CONF_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "kube-proxy"
NODE = "test-node"


def load(name: str):
    if not CONF_DIR.is_dir():
        pytest.skip(f"kube-proxy conformance data not found at {CONF_DIR}")
    return json.loads((CONF_DIR / name).read_text())


def proxier_config(overrides: dict | None = None) -> dict:
    cfg = dict(load("setups.json")["defaultProxierConfig"])
    cfg.update(overrides or {})
    return cfg


def service(raw: dict) -> Service:
    return Service(
        namespace=raw["namespace"], name=raw["name"], type=raw.get("type") or "ClusterIP",
        cluster_ip=raw["clusterIP"],
        ports=[ServicePort(port=p["port"], protocol=p.get("protocol") or "TCP", name=p.get("name") or "",
                           target_port=p.get("targetPort"), node_port=p.get("nodePort") or 0) for p in raw["ports"]],
        external_traffic_policy=raw.get("externalTrafficPolicy"),
        internal_traffic_policy=raw.get("internalTrafficPolicy"),
        external_ips=list(raw.get("externalIPs") or []),
        session_affinity=raw.get("sessionAffinity") or "None",
        session_affinity_timeout=raw.get("sessionAffinityTimeoutSeconds"),
        load_balancer_source_ranges=list(raw.get("loadBalancerSourceRanges") or []),
        load_balancer_ingress=[LoadBalancerIngress(ip=i.get("ip", ""), ip_mode=i.get("ipMode"))
                               for i in raw.get("loadBalancerIngress") or []],
        health_check_node_port=raw.get("healthCheckNodePort") or 0,
    )


def endpoint_slice(raw: dict) -> EndpointSlice:
    return EndpointSlice(
        namespace=raw["namespace"], name=raw["sliceName"], service_name=raw["service"],
        address_type=raw.get("addressType") or "IPv4",
        endpoints=[Endpoint(addresses=list(e["addresses"]), ready=e.get("ready"), serving=e.get("serving"),
                            terminating=e.get("terminating"), node_name=e.get("nodeName")) for e in raw["endpoints"]],
        ports=[EndpointPort(port=p.get("port"), protocol=p.get("protocol") or "TCP", name=p.get("name") or "")
               for p in raw["ports"]],
    )


def cluster(services: list[dict], slices: list[dict], overrides: dict | None = None) -> tuple[Cluster, str]:
    """(Cluster, IP family) for a test's inputs and proxier settings; the node holds the fixture's eth0 addresses."""
    cfg = proxier_config(overrides)
    family = cfg["ipFamily"]
    eth0 = [a.split("/")[0] for a in cfg["fakeNetworkInterfaces"]["eth0"]]
    primary = cfg["nodeIP"] if (":" in cfg["nodeIP"]) == (family == "IPv6") else next(
        a for a in eth0 if (":" in a) == (family == "IPv6"))
    addresses = [NodeAddress("InternalIP", primary)] + [NodeAddress("InternalIP", a) for a in eth0 if a != primary]
    detector = cfg.get("localDetector") or {}
    proxy = ProxySettings(
        cluster_cidr=detector.get("cidr"),
        detect_local_mode="ClusterCIDR" if detector.get("mode") == "ClusterCIDR" else "None",
        masquerade_all=bool(cfg.get("masqueradeAll")),
        localhost_node_ports=bool(cfg.get("localhostNodePorts")),
        node_port_addresses=list(cfg.get("nodePortAddresses") or []),
        random_fully=bool(cfg.get("iptablesHasRandomFully")),
        conntrack_tcp_be_liberal=bool(cfg.get("conntrackTCPLiberal")),
        nfacct=any((cfg.get("nfacctCounters") or {}).values()),
        large_cluster_endpoints_threshold=cfg.get("largeClusterEndpointsThreshold", 1000),
    )
    assert proxy.masquerade_mark == cfg["masqueradeMark"]
    svcs = [service(s) for s in services]
    eps = [endpoint_slice(s) for s in slices]
    c = Cluster(nodes={NODE: Node(NODE, addresses=addresses)},
                services={s.key: s for s in svcs},
                endpointslices={f"{e.namespace}/{e.name}": e for e in eps},
                proxy=proxy)
    return c, family


def setup_cluster(ref: str, overrides: dict | None = None) -> tuple[Cluster, str]:
    name = ref.split("#", 1)[1] if "#" in ref else ref
    s = load("setups.json")["setups"][name]
    merged = dict(s.get("proxierOverrides") or {})
    merged.update(overrides or {})
    return cluster(s["services"], s["endpointSlices"], merged)


def chain_rules(payload: str, table: str, chain: str) -> str:
    """The `-A CHAIN` lines of one table of a payload, in order, newline-terminated ('' when none)."""
    lines, current = [], None
    for line in payload.splitlines():
        if line.startswith("*"):
            current = line[1:]
        elif current == table and line.startswith(f"-A {chain} "):
            lines.append(line)
    return "".join(line + "\n" for line in lines)


@pytest.fixture
def conformance():
    return SimpleNamespace(load=load, cluster=cluster, setup_cluster=setup_cluster, chain_rules=chain_rules,
                           service=service, endpoint_slice=endpoint_slice, NODE=NODE)
