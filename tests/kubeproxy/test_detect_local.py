"""detectLocalMode: kube-proxy's local-traffic detectors (ClusterCIDR, NodeCIDR, BridgeInterface,
InterfaceNamePrefix) and the rules each writes (LocalTrafficDetector.IfLocal / IfNotLocal)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kplab.errors import KplabError
from kplab.k8s import load_cluster
from kplab.kubeproxy.kubeproxy import node_rules
from kplab.walk import trace

FIELD = Path(__file__).resolve().parents[2] / ".." / "shared" / "field"

CLUSTER = """
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
{detect}
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: default}}
spec: {{nodeName: minikube, containers: [{{name: c, image: busybox}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-0, namespace: default, labels: {{app: web}}}}
spec: {{nodeName: minikube-m02, containers: [{{name: s, image: nginx, ports: [{{containerPort: 80}}]}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec: {{type: NodePort, externalTrafficPolicy: Local, selector: {{app: web}}, ports: [{{port: 80, nodePort: 30080}}]}}
"""


def cluster(tmp_path, detect: str):
    path = tmp_path / "c.yaml"
    path.write_text(CLUSTER.format(detect=detect))
    return load_cluster(path)


@pytest.mark.parametrize("detect, not_local, local", [
    ("detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: azv}", "! -i azv+", "-i azv+"),
    ("detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: cni0}", "! -i cni0", "-i cni0"),
    ("detectLocalMode: ClusterCIDR\nclusterCIDR: 10.244.0.0/16", "! -s 10.244.0.0/16", "-s 10.244.0.0/16"),
])
def test_detector_rules_as_kube_proxy_writes_them(tmp_path, detect, not_local, local):
    restore = node_rules(cluster(tmp_path, detect), "minikube", form="restore")
    assert '-m tcp -p tcp -d 10.96.' in restore
    masq = [l for l in restore.splitlines() if l.startswith("-A KUBE-SVC-") and "KUBE-MARK-MASQ" in l]
    assert masq and all(re.search(rf"--dport \d+ {re.escape(not_local)} -j KUBE-MARK-MASQ$", l) for l in masq)
    pod_rule = next(l for l in restore.splitlines() if "pod traffic for default/web external destinations" in l)
    assert pod_rule.endswith(f"{local} -j KUBE-SVC-" + pod_rule.rsplit("KUBE-SVC-", 1)[1])


@pytest.mark.parametrize("detect, masqueraded", [
    ("detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: cni0}", False),  # pods come in by cni0
    ("detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: azv}", True),  # no azv* here
    ("detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: veth}", True),  # bridged: in = cni0
])
def test_pod_to_cluster_ip_is_masqueraded_exactly_when_the_detector_says_not_local(tmp_path, detect, masqueraded):
    t = trace(cluster(tmp_path, detect), "default/client", "default/web", port=80)
    assert t.verdict == "ACCEPT"
    assert (t.source_seen.split(":")[0] != "10.244.0.3") == masqueraded, t.source_seen


def test_field_f4_interface_prefix_traces(tmp_path):
    path = FIELD / "F4-detect-local-interface-prefix.yaml"
    if not path.is_file():
        pytest.skip(f"field data not found at {FIELD}")
    assert trace(load_cluster(path), "default/client", "default/kubernetes", port=443).verdict == "ACCEPT"


@pytest.mark.parametrize("detect, words", [
    ("detectLocalMode: InterfaceNamePrefix", "detectLocal.interfaceNamePrefix"),
    ("detectLocalMode: BridgeInterface\ndetectLocal: {interfaceNamePrefix: x}", "detectLocal.bridgeInterface"),
])
def test_mode_without_its_field_is_refused_like_kube_proxy(tmp_path, detect, words):
    with pytest.raises(KplabError, match=words):
        cluster(tmp_path, detect)


def test_v119_layout_refuses_interface_detectors(tmp_path):
    c = cluster(tmp_path, "detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: cni0}")
    with pytest.raises(KplabError, match="v1.23"):
        node_rules(c, "minikube", layout="v1.19")
