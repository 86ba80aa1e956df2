"""A client on the node network (fault kind 7): an address of the nodes' LAN that no node owns is a host on that
LAN — minikube's host at 192.168.49.1 is the router, 192.168.49.100 an office machine — and reaches NodePorts
directly, without a router hop."""
from __future__ import annotations

import pytest

from kplab import trace
from kplab.errors import KplabError
from kplab.k8s import load_cluster

CLUSTER = """apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: default, labels: {app: web}}
spec: {nodeName: minikube-m02, containers: [{name: s, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 30080}]}
"""


@pytest.fixture
def cluster(tmp_path):
    (tmp_path / "c.yaml").write_text(CLUSTER)
    return load_cluster(tmp_path / "c.yaml")


@pytest.mark.parametrize("client", ["192.168.49.100", "192.168.49.254", "192.168.49.7"])
def test_lan_client_reaches_a_nodeport_directly(cluster, client):
    t = trace(cluster, client, "minikube:30080")
    assert t.verdict == "ACCEPT" and t.delivered_to == "default/web-0"
    assert [h.host for h in t.hops][:2] == [client, "minikube"]  # no router between
    assert t.source_seen.split(":")[0] in {"192.168.49.2"}  # masqueraded by the NodePort (eTP Cluster)


def test_the_router_on_the_lan_is_a_client_too(cluster):
    t = trace(cluster, "192.168.49.1", "minikube-m02:30080")
    assert t.verdict == "ACCEPT"


def test_lan_client_gets_the_reply(cluster):
    t = trace(cluster, "192.168.49.100", "minikube:30080", reply=True)
    assert t.reply is not None and t.reply.verdict == "ACCEPT" and t.reply.delivered_to == "192.168.49.100"


@pytest.mark.parametrize("source", ["10.244.0.250", "192.168.49.255"])
def test_unowned_pod_network_and_broadcast_addresses_are_still_refused(cluster, source):
    with pytest.raises(KplabError):
        trace(cluster, source, "minikube:30080")
