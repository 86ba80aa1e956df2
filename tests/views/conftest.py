"""Clusters the view tests draw: the article's, the policy scenario, and a four-node cluster with twelve
application pods (the size the picture must hold without overlap)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kplab.k8s import load_cluster

DATA = Path(__file__).resolve().parents[2] / "data"

NODE = """apiVersion: v1
kind: Node
metadata: {{name: {name}}}
spec: {{podCIDR: 10.244.{i}.0/24}}
status:
  addresses: [{{type: InternalIP, address: 192.168.49.{ip}}}]
"""
APP = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}}}
spec:
  replicas: {n}
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {app}}}
spec:
  type: {kind}
  selector: {{app: {app}}}
  ports: [{{port: 80}}]
{status}"""


def four_node_yaml() -> str:
    """Four nodes, webapp x5 behind a LoadBalancer, auth x4 behind a NodePort, cache x3 (12 pods + CoreDNS)."""
    nodes = [NODE.format(name="minikube" if i == 0 else f"minikube-m0{i + 1}", i=i, ip=i + 2) for i in range(4)]
    lb = "status:\n  loadBalancer: {ingress: [{ip: 203.0.113.50}]}\n"
    apps = [APP.format(app="webapp", n=5, kind="LoadBalancer", status=lb),
            APP.format(app="auth", n=4, kind="NodePort", status=""),
            APP.format(app="cache", n=3, kind="ClusterIP", status="")]
    return "---\n".join(nodes + apps)


@pytest.fixture(scope="session")
def article():
    return load_cluster(DATA / "article")


@pytest.fixture(scope="session")
def policy_cluster():
    return load_cluster(DATA / "policy")


@pytest.fixture(scope="session")
def four_nodes(tmp_path_factory):
    path = tmp_path_factory.mktemp("four") / "four.yaml"
    path.write_text(four_node_yaml())
    return load_cluster(path)
