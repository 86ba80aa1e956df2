"""Allocation: deterministic ClusterIPs, NodePorts and pod IPs, hand-picked values reserved first."""
from __future__ import annotations

from kplab.k8s import Cluster, ClusterSettings, Node, NodeAddress, Pod, Service, ServicePort, load_cluster
from kplab.k8s.allocation import static_band


def test_static_band_formula():
    assert static_band(2 ** 20 - 2, 16, 16, 256) == 256  # /12 service range: capped at 256
    assert static_band(254, 16, 16, 256) == 16  # /24: at least 16
    assert static_band(2768, 32, 16, 128) == 86  # default node-port range 30000-32767


def test_cluster_ips_lowest_free_above_the_static_band():
    services = [Service("default", n, ports=[ServicePort(80)]) for n in ("a", "b")]
    services.append(Service("default", "picked", cluster_ip="10.96.1.1", ports=[ServicePort(80)]))
    Cluster.from_objects(services=services)
    assert [s.cluster_ip for s in services] == ["10.96.1.2", "10.96.1.3", "10.96.1.1"]


def test_small_service_range_wraps_into_the_band():
    settings = ClusterSettings(service_subnet="10.0.0.0/28")  # 14 usable, band of 16 covers it all
    services = [Service("default", f"s{i}", ports=[ServicePort(80)]) for i in range(3)]
    Cluster.from_objects(services=services, settings=settings)
    assert [s.cluster_ip for s in services] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_node_ports_and_health_check_port():
    np_ = Service("default", "np", type="NodePort", ports=[ServicePort(80), ServicePort(443, name="b")])
    np_.ports[0].name = "a"
    lb = Service("default", "lb", type="LoadBalancer", external_traffic_policy="Local", ports=[ServicePort(80)])
    fixed = Service("default", "fixed", type="NodePort", ports=[ServicePort(80, node_port=30086)])
    Cluster.from_objects(services=[np_, lb, fixed])
    assert [p.node_port for p in np_.ports] == [30087, 30088]
    assert lb.ports[0].node_port == 30089 and lb.health_check_node_port == 30090
    assert fixed.ports[0].node_port == 30086


def test_load_balancer_without_node_ports():
    lb = Service("default", "lb", type="LoadBalancer", allocate_load_balancer_node_ports=False, ports=[ServicePort(80)])
    Cluster.from_objects(services=[lb])
    assert lb.ports[0].node_port == 0


def test_pod_ips_from_node_cidr_skipping_network_and_gateway():
    node = Node("n", addresses=[NodeAddress("InternalIP", "10.0.0.2")], pod_cidr="10.244.5.0/24")
    pods = [Pod("default", "given", node_name="n", ip="10.244.5.3"), Pod("default", "p1", node_name="n"),
            Pod("default", "p2", node_name="n"), Pod("default", "host", node_name="n", host_network=True)]
    c = Cluster.from_objects(nodes=[node], pods=pods)
    assert [c.pod(k).ip for k in ("given", "p1", "p2", "host")] == ["10.244.5.3", "10.244.5.2", "10.244.5.4",
                                                                     "10.0.0.2"]


def test_full_pod_cidr_leaves_pod_pending():
    node = Node("n", addresses=[NodeAddress("InternalIP", "10.0.0.2")], pod_cidr="10.244.5.0/30")  # only .2
    c = Cluster.from_objects(nodes=[node], pods=[Pod("default", "a", node_name="n"), Pod("default", "b",
                                                                                        node_name="n")])
    assert (c.pod("a").ip, c.pod("b").ip) == ("10.244.5.2", None)
    assert any("no free address" in w for w in c.warnings)


def test_load_is_deterministic():
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "data"
    first, second = load_cluster(data / "policy"), load_cluster(data / "policy")
    assert {k: (p.ip, p.node_name) for k, p in first.pods.items()} == \
        {k: (p.ip, p.node_name) for k, p in second.pods.items()}
    assert {k: s.cluster_ip for k, s in first.services.items()} == {k: s.cluster_ip for k, s in second.services.items()}
    assert sorted(first.endpointslices) == sorted(second.endpointslices)
