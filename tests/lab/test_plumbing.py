"""The lab's build plan, read without building it (no root needed): VXLAN devices, neighbour and FDB entries as the
simulator's topology has them, the node-network client on the LAN bridge, the router's outside-world rules."""
from __future__ import annotations

import pytest

from kplab.k8s import load_cluster
from kplab.lab.plumbing import UNDERLAY, plan, swallow_rules, vtep_mac
from kplab.walk import Topology

from .conftest import DATA


@pytest.mark.parametrize("cni, device, vni, port", [("bridge", "flannel.1", 1, 8472),
                                                     ("calico", "vxlan.calico", 4096, 4789)])
def test_vxlan_devices_neighbours_and_fdb(cni, device, vni, port):
    topo = Topology.from_cluster(load_cluster(DATA / "nodeport"), cni=cni, overlay="vxlan")
    p = plan(topo, "kpl-1-t-")
    node, other = p.namespace("minikube"), "minikube-m02"
    assert f"link add {device} address {vtep_mac('minikube')} mtu 1450 type vxlan id {vni} local 192.168.49.2 " \
           f"dev eth0 dstport {port} nolearning" in p.links[node]
    vtep = topo.hosts[other].interfaces[device].ips[0]
    setup = p.setup[node]
    neigh = f"neigh replace {vtep} lladdr {vtep_mac(other)} dev {device} nud permanent"
    route = next(line for line in setup if line.startswith("route add 10.244.1.0/24"))
    assert route == f"route add 10.244.1.0/24 via {vtep} dev {device} onlink"
    assert setup.index(neigh) > setup.index(f"link set {device} up")
    assert p.fdb[node] == [f"fdb append {vtep_mac(other)} dev {device} dst 192.168.49.3 self permanent"]
    assert vtep_mac("minikube") != vtep_mac(other) and int(vtep_mac("minikube")[:2], 16) & 2  # locally administered


def test_the_node_network_client_is_a_port_of_the_lan_bridge():
    topo = Topology.from_cluster(load_cluster(DATA / "nodeport"))
    topo.lan_host("192.168.49.100")
    p = plan(topo, "kpl-1-t-")
    client = p.namespace("192.168.49.100")
    ports = [line for line in p.links[p.namespace(UNDERLAY)] if f"netns {client}" in line]
    assert len(ports) == 1 and ports[0].endswith(f"type veth peer name eth0 netns {client}")
    assert "addr add 192.168.49.100/24 dev eth0" in p.setup[client]
    assert "route add default via 192.168.49.1 dev eth0" in p.setup[client]


def test_the_router_lets_through_only_what_someone_owns():
    cluster = load_cluster(DATA / "nodeport")
    topo = Topology.from_cluster(cluster)
    topo.outside_host("203.0.113.10")
    rules = swallow_rules(topo, "router")
    assert rules[-1] == "-A PREROUTING -j DROP"
    kept = {r.split()[3] for r in rules[:-1]}
    assert kept == {"192.168.49.0/24", "203.0.113.10/32"}  # the LAN and the one outside host, nothing else
    p = plan(topo, "kpl-1-t-")
    assert p.sysctls[p.namespace("router")]["net.ipv4.conf.all.send_redirects"] == "0"  # no shortcuts between tries
