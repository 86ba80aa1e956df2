"""Pod names as Kubernetes makes them, deterministic; controllers count the pods they already have."""
from __future__ import annotations

import re

from kplab.k8s import load_cluster
from kplab.k8s.workload import SAFE_ALPHABET, fnv32a, pod_template_hash, safe_encode

SAFE = f"[{SAFE_ALPHABET}]"


def workload(kind: str, name: str, replicas: int = 2, extra: str = "") -> str:
    return f"""
apiVersion: apps/v1
kind: {kind}
metadata: {{name: {name}}}
spec:
  {"" if kind == "DaemonSet" else f"replicas: {replicas}"}
  {extra}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: nginx}}]}}
"""


def test_fnv32a_and_safe_encode():
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C  # the published FNV-1a test vector
    assert safe_encode("0123456789") == "456789bcdf"


def test_template_hash_is_stable_and_sensitive():
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    assert pod_template_hash(t) == pod_template_hash({"spec": t["spec"], "metadata": t["metadata"]})
    changed = {"metadata": t["metadata"], "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}
    assert pod_template_hash(changed) != pod_template_hash(t)
    assert re.fullmatch("[456789bcdf]{1,10}", pod_template_hash(t))


def test_deployment_pods(write):
    c = load_cluster(write("d.yaml", workload("Deployment", "webapp", 3)))
    pods = [p for p in c.pods.values() if p.owner == "Deployment/webapp"]
    assert len(pods) == 3
    h = pods[0].labels["pod-template-hash"]
    for p in pods:
        assert re.fullmatch(f"webapp-{h}-{SAFE}{{5}}", p.name)
    assert len({p.name for p in pods}) == 3
    again = load_cluster(write("d.yaml", workload("Deployment", "webapp", 3)))
    assert sorted(p.key for p in again.pods.values()) == sorted(c.pods)


def test_replicaset_statefulset_daemonset(write, tmp_path):
    (tmp_path / "c.yaml").write_text(
        workload("ReplicaSet", "rs", 2) + "---\n" + workload("StatefulSet", "db", 3, "serviceName: db")
        + "---\n" + workload("DaemonSet", "agent"))
    c = load_cluster(tmp_path / "c.yaml")
    rs = sorted(p.name for p in c.pods.values() if p.owner == "ReplicaSet/rs")
    assert len(rs) == 2 and all(re.fullmatch(f"rs-{SAFE}{{5}}", n) for n in rs)
    db = [c.pod(f"db-{i}") for i in range(3)]
    assert [(p.hostname, p.subdomain) for p in db] == [("db-0", "db"), ("db-1", "db"), ("db-2", "db")]
    agents = [p for p in c.pods.values() if p.owner == "DaemonSet/agent"]
    assert sorted(p.node_name for p in agents) == ["minikube", "minikube-m02"]
    assert all(re.fullmatch(f"agent-{SAFE}{{5}}", p.name) for p in agents)


def test_daemonset_honours_node_selector(write):
    c = load_cluster(write("ds.yaml", workload("DaemonSet", "cp-only").replace(
        "spec: {containers:", "spec: {nodeSelector: {node-role.kubernetes.io/control-plane: ''}, containers:")))
    assert [p.node_name for p in c.pods.values() if p.owner == "DaemonSet/cp-only"] == ["minikube"]


def test_existing_pods_count_towards_replicas(write):
    c = load_cluster(write("d.yaml", workload("Deployment", "web", 2) + """
---
apiVersion: v1
kind: Pod
metadata: {name: web-old, labels: {app: web}}
spec: {containers: [{name: c}]}
"""))
    web = sorted(p.name for p in c.pods.values() if p.labels.get("app") == "web")
    assert len(web) == 2 and "web-old" in web


def test_replicaset_owned_by_a_deployment_does_not_double(write):
    c = load_cluster(write("d.yaml", workload("Deployment", "web", 2) + "---\n" + workload("ReplicaSet", "web-abc", 2)
                           .replace("metadata: {name: web-abc}", "metadata: {name: web-abc, ownerReferences: "
                                    "[{kind: Deployment, name: web}]}").replace("app: web-abc", "app: web")))
    assert len([p for p in c.pods.values() if p.labels.get("app") == "web"]) == 2


def test_long_names_are_cut_like_generate_name(write):
    name = "a" * 60
    c = load_cluster(write("rs.yaml", workload("ReplicaSet", name, 1)))
    (pod,) = [p for p in c.pods.values() if p.owner == f"ReplicaSet/{name}"]
    assert len(pod.name) == 63 and pod.name.startswith("a" * 58)
