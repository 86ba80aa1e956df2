"""The load balancer's health check sees what kube-proxy sees (fault kind 9): with externalTrafficPolicy Local,
a pod that lacks the Service's named targetPort sits in an EndpointSlice without ports; kube-proxy ignores it, so
the node's health check (kube-proxy's health server) must fail too."""
from __future__ import annotations

import pytest

from kplab.k8s import load_cluster
from kplab.kubeproxy.kubeproxy import node_rules
from kplab.walk.topology import node_passes_health_check

CLUSTER = """apiVersion: v1
kind: Pod
metadata: {{name: web-a, namespace: default, labels: {{app: web}}}}
spec: {{nodeName: minikube, containers: [{{name: s, image: nginx, ports: [{{name: http, containerPort: 80}}]}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-b, namespace: default, labels: {{app: web}}}}
spec: {{nodeName: minikube-m02, containers: [{{name: s, image: nginx{b_ports}}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec: {{type: LoadBalancer, externalTrafficPolicy: Local, selector: {{app: web}},
        ports: [{{port: 80, targetPort: {target}}}]}}
"""


def load(tmp_path, b_ports: str, target: str):
    (tmp_path / "c.yaml").write_text(CLUSTER.format(b_ports=b_ports, target=target))
    return load_cluster(tmp_path / "c.yaml")


@pytest.mark.parametrize("b_ports, target, m02_healthy", [
    ("", "http", False),                                               # web-b lacks the named port
    (", ports: [{name: web, containerPort: 80}]", "http", False),      # ... has a port, under another name
    (", ports: [{name: http, containerPort: 8080}]", "http", True),    # has it (another number): counted
    ("", "80", True),                                                  # a numbered targetPort: every pod has it
])
def test_health_check_agrees_with_kube_proxy(tmp_path, b_ports, target, m02_healthy):
    cluster = load(tmp_path, b_ports, target)
    svc = cluster.services["default/web"]
    assert node_passes_health_check(cluster, svc, "minikube") is True
    assert node_passes_health_check(cluster, svc, "minikube-m02") is m02_healthy
    rules = node_rules(cluster, "minikube-m02")
    assert ('"default/web has no local endpoints"' in rules) is (not m02_healthy)
