"""Loopback on a node (fault kind 8): `local 127.0.0.0/8 dev lo` is the node's own, so a node's connection to
127.0.0.1:NODEPORT leaves over lo from 127.0.0.1 (kube-proxy's localhost NodePorts, route_localnet=1), is
masqueraded when it is sent on, and meets the filter REJECT of a Service without endpoints."""
from __future__ import annotations

import pytest

from kplab import trace
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
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec: {type: NodePort, selector: {app: none}, ports: [{port: 80, nodePort: 30081}]}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    path = tmp_path_factory.mktemp("lo") / "c.yaml"
    path.write_text(CLUSTER)
    return load_cluster(path)


@pytest.mark.parametrize("dst", ["127.0.0.1:30080", "127.0.0.53:30080"])
def test_localhost_nodeport_leaves_from_loopback_and_is_masqueraded(cluster, dst):
    ip, port = dst.split(":")
    t = trace(cluster, "node/minikube", ip, port=int(port))
    assert t.packet.src == "127.0.0.1"  # `ip route get 127.0.0.53`: local ... dev lo src 127.0.0.1 (checked)
    first = t.hops[0].steps[0]
    assert first.kind == "route" and "lo" in first.text
    assert t.verdict == "ACCEPT" and t.delivered_to == "default/web-0"
    assert t.source_seen.split(":")[0] == "192.168.49.2"  # masqueraded, never 127.0.0.1 on the wire


def test_localhost_nodeport_without_endpoints_is_rejected_not_dropped(cluster):
    t = trace(cluster, "node/minikube", "127.0.0.1", port=30081)
    assert t.verdict == "REJECT"
    assert "has no endpoints" in t.reason or "rejected" in t.reason
