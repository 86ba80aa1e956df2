import pytest

from kplab.errors import KplabError
from kplab.walk.topology import LOAD_BALANCER, ROUTER, Topology


def test_bridge_topology_pods_nodes_router(cluster):
    topo = Topology.from_cluster(cluster)
    client = topo.hosts["default/client"]
    assert client.kind == "pod"
    assert client.interfaces["eth0"].addresses == ["10.244.1.5/24"]
    assert str(client.routes.lookup("8.8.8.8")) == "default via 10.244.1.1 dev eth0"
    node1 = topo.hosts["node-1"]
    assert node1.interfaces["eth0"].addresses == ["192.168.1.11/24"]
    assert node1.interfaces["cni0"].addresses == ["10.244.1.1/24"]
    assert node1.routes.lookup("10.244.2.10").via == "192.168.1.12"
    assert node1.routes.lookup("10.244.1.10").dev == "cni0"
    assert node1.routes.lookup("8.8.8.8").via == topo.hosts[ROUTER].address
    # the veth pair: pod eth0 <-> node port enslaved to cni0
    peer = topo.peer("default/client", "eth0", "10.244.1.1")
    assert (peer.host, peer.iface) == ("node-1", "cni0") and peer.port.startswith("veth")
    back = topo.peer("node-1", "cni0", "10.244.1.10")
    assert (back.host, back.iface) == ("default/web-a", "eth0")
    assert topo.peer("node-1", "cni0", "10.244.1.99") is None  # nobody answers ARP


def test_calico_routes_per_pod_and_ipip(cluster):
    topo = Topology.from_cluster(cluster, cni="calico", overlay="ipip")
    node1 = topo.hosts["node-1"]
    r = node1.routes.lookup("10.244.1.10")
    assert r.dev.startswith("cali") and r.dest == "10.244.1.10/32"
    assert node1.routes.lookup("10.244.1.99").kind == "blackhole"
    cross = node1.routes.lookup("10.244.2.10")
    assert (cross.dev, cross.via, cross.onlink) == ("tunl0", "192.168.1.12", True)
    peer = topo.peer("node-1", "tunl0", "192.168.1.12")
    assert peer.host == "node-2" and peer.tunnel[:3] == ("ipip", "192.168.1.11", "192.168.1.12")
    assert str(topo.hosts["default/client"].routes.lookup("10.96.0.10")) == "default via 169.254.1.1 dev eth0"


def test_vxlan_overlay_next_hop_is_remote_vtep(cluster):
    topo = Topology.from_cluster(cluster, overlay="vxlan")
    r = topo.hosts["node-1"].routes.lookup("10.244.2.10")
    assert (r.dev, r.via) == ("flannel.1", "10.244.2.0")
    peer = topo.peer("node-1", "flannel.1", "10.244.2.0")
    assert peer.host == "node-2" and peer.tunnel == ("vxlan", "192.168.1.11", "192.168.1.12", 8472)


def test_load_balancer_routes_only_to_healthy_nodes(cluster):
    topo = Topology.from_cluster(cluster)
    lb = topo.hosts[LOAD_BALANCER]
    route = lb.routes.lookup("203.0.113.100")
    # eTP=Local: node-3 has no web pod, fails the health check and gets no traffic
    assert [n.via for n in route.nexthops] == ["192.168.1.11", "192.168.1.12"]
    assert topo.hosts[ROUTER].routes.lookup("203.0.113.100").via == lb.address


def test_outside_hosts_and_ip_forward(cluster):
    topo = Topology.from_cluster(cluster, ip_forward={"node-2": False})
    assert topo.hosts["node-2"].ip_forward is False and topo.hosts["node-1"].ip_forward is True
    assert topo.is_outside("8.8.8.8") and not topo.is_outside("10.244.1.5")
    assert topo.peer(ROUTER, "wan", "8.8.8.8") is None  # nobody named it: no host answers
    topo.outside_host("8.8.8.8")
    peer = topo.peer(ROUTER, "wan", "8.8.8.8")
    assert peer.host == "8.8.8.8" and topo.hosts["8.8.8.8"].kind == "outside"


def test_service_cidr_is_not_outside(cluster):
    topo = Topology.from_cluster(cluster)
    assert topo.service_cidr == cluster.settings.service_subnet
    assert not topo.is_outside("10.96.0.10") and not topo.is_outside("10.96.1.3")
    assert "10.96.1.3" not in topo.hosts


def test_endpoint_addresses_outside_the_cluster_are_hosts(cluster):
    from kplab.k8s.endpointslice import Endpoint
    cluster.endpointslices["default/only-a-abc"].endpoints.append(Endpoint(addresses=["203.0.113.40"], ready=True))
    topo = Topology.from_cluster(cluster)
    assert topo.hosts["203.0.113.40"].kind == "outside"
    assert topo.peer(ROUTER, "wan", "203.0.113.40").host == "203.0.113.40"


def test_bad_cni_is_a_kplab_error(cluster):
    with pytest.raises(KplabError, match="CNI"):
        Topology.from_cluster(cluster, cni="weave")


def test_cni_and_overlay_come_from_cluster_settings(cluster):
    from kplab.walk import Topology
    assert (cluster.settings.cni, cluster.settings.overlay) == ("bridge", None)
    cluster.settings.cni, cluster.settings.overlay = "calico", "ipip"
    topo = Topology.from_cluster(cluster)
    assert (topo.cni, topo.overlay) == ("calico", "ipip")
    assert "tunl0" in topo.hosts["node-1"].interfaces
    assert Topology.from_cluster(cluster, cni="bridge", overlay=None).overlay is None
