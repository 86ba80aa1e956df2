import pytest

from kplab.errors import KplabError
from kplab.walk.address import resolve_destination, resolve_source
from kplab.walk.topology import Topology


@pytest.fixture
def topo(cluster):
    return Topology.from_cluster(cluster)


def test_sources(cluster, topo):
    assert resolve_source(cluster, topo, "default/client").host == "default/client"
    assert resolve_source(cluster, topo, "node-2").host == "node-2"
    assert resolve_source(cluster, topo, "10.244.2.10").host == "default/web-b"
    assert resolve_source(cluster, topo, "192.168.1.13").host == "node-3"
    assert resolve_source(cluster, topo, "203.0.113.7").host == "203.0.113.7"
    assert topo.hosts["203.0.113.7"].kind == "outside"


def test_bad_sources_name_the_argument(cluster, topo):
    with pytest.raises(KplabError, match="source default/nope"):
        resolve_source(cluster, topo, "default/nope")
    with pytest.raises(KplabError, match="inside the cluster"):
        resolve_source(cluster, topo, "10.244.1.200")


def test_destinations(cluster, topo):
    d = resolve_destination(cluster, topo, "default/web", None, "tcp")
    assert (d.ip, d.port) == ("10.96.0.10", 80)
    d = resolve_destination(cluster, topo, "node-3:30080", None, "tcp")
    assert (d.ip, d.port) == ("192.168.1.13", 30080)
    d = resolve_destination(cluster, topo, "default/web-a", None, "tcp")
    assert (d.ip, d.port) == ("10.244.1.10", 8080)  # the pod's first container port
    d = resolve_destination(cluster, topo, "8.8.8.8", 53, "udp")
    assert (d.ip, d.port) == ("8.8.8.8", 53)


def test_ip_destination_needs_a_port(cluster, topo):
    with pytest.raises(KplabError, match="no port known"):
        resolve_destination(cluster, topo, "8.8.8.8", None, "tcp")
