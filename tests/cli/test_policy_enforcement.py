"""`reach` says whether the cluster's CNI enforces NetworkPolicy, and `trace` says when a policy exists that the
CNI ignores (field case 08: a default minikube, whose bridge CNI implements no NetworkPolicy)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kplab.cli import main
from kplab.k8s import load_cluster
from kplab.walk import trace

FIELD = Path(__file__).resolve().parents[2] / ".." / "shared" / "field"
CASE = FIELD / "08-netpol-ignored-by-default-minikube-cni.yaml"

DENY_ALL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: default}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
spec: {nodeName: minikube, containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default}
spec: {nodeName: minikube-m02, containers: [{name: c, image: busybox}]}
"""


@pytest.fixture
def case():
    if not CASE.is_file():
        pytest.skip(f"field data not found at {FIELD}")
    return CASE


def test_field_08_trace_delivers_and_says_the_policy_is_not_enforced(case):
    t = trace(load_cluster(case), "default/busybox", "default/nginx", port=80)
    assert t.verdict == "ACCEPT" and "nginx" in t.delivered_to
    assert any("default/access-nginx" in n and "does not enforce" in n for n in t.notes)


def test_field_08_reach_denies_by_semantics_and_says_the_cni_ignores_it(case, capsys):
    assert main(["reach", str(case), "--from", "default/busybox", "--to", "default/nginx", "--port", "80",
                 "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["allowed"], row["enforced"], row["cni"]) == (False, False, "bridge")
    assert main(["reach", str(case), "--from", "default/busybox", "--to", "default/nginx", "--port", "80"]) == 0
    assert "does not enforce NetworkPolicy" in capsys.readouterr().out


@pytest.mark.parametrize("cni, verdict, noted", [("bridge", "ACCEPT", True), ("calico", "DROP", False)])
def test_deny_all_is_enforced_only_by_calico(tmp_path, cni, verdict, noted):
    (tmp_path / "c.yaml").write_text(DENY_ALL)
    t = trace(load_cluster(tmp_path / "c.yaml"), "default/b", "default/a", port=80, cni=cni)
    assert t.verdict == verdict
    assert any("deny-all" in n for n in t.notes) == noted


def test_reach_on_a_calico_cluster_says_enforced(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n---\n"
                                     + DENY_ALL)
    cluster = load_cluster(tmp_path / "c.yaml")
    cluster.settings.cni = "calico"
    from kplab.cni.enforcement import enforcement_note, enforces_policy
    assert enforces_policy("calico") and enforcement_note(cluster) is None
    cluster.settings.cni = "bridge"
    assert "deny-all" in enforcement_note(cluster)


def test_no_policies_no_note(tmp_path):
    (tmp_path / "c.yaml").write_text(DENY_ALL.split("---\n", 1)[1])
    t = trace(load_cluster(tmp_path / "c.yaml"), "default/b", "default/a", port=80)
    assert not any("NetworkPolicy" in n for n in t.notes)
