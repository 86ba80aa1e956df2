"""data/byoc/, the "bring your own cluster" worked example: it loads as a real dump would, its node dump parses, its
kube-proxy rules are the ones kube-proxy writes for its objects, and a packet walks through the real dump."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kplab.k8s import load_cluster
from kplab.netfilter import parse_ruleset

BYOC = Path(__file__).resolve().parents[1] / "data" / "byoc"
DUMP = BYOC / "worker-1.iptables-save"


@pytest.fixture(scope="module")
def cluster():
    return load_cluster(BYOC)


def test_the_dump_is_shaped_like_kubectl_output():
    text = (BYOC / "cluster.yaml").read_text()
    assert text.startswith("apiVersion: v1\nitems:\n") and "kind: List" in text
    for field in ("managedFields:", "resourceVersion:", "uid:", "creationTimestamp:", "status:", "nodeInfo:"):
        assert field in text, field


def test_it_loads_with_every_object(cluster):
    assert sorted(cluster.nodes) == ["cp-1", "worker-1", "worker-2"]
    assert {p.split("/")[0] for p in cluster.pods} >= {"shop", "kube-system", "kube-flannel"}
    assert cluster.services["shop/web"].type == "NodePort"
    assert "shop/api-allow-web" in cluster.networkpolicies
    # The kube-proxy ConfigMap is either read or reported as skipped: never ignored without a word.
    read = getattr(cluster.proxy, "cluster_cidr", None) == "10.244.0.0/16"
    assert read or any("ConfigMap" in w for w in cluster.warnings)


def test_node_dump_parses_with_counters():
    ruleset = parse_ruleset(DUMP.read_text(), source=str(DUMP))
    assert "KUBE-SERVICES" in ruleset.save()
    assert re.search(r"^\[\d+:\d+\] -A ", DUMP.read_text(), re.M)


def _kube_rules(text: str) -> list[str]:
    """kube-proxy's own rules, without counters and the flags that depend on the node's iptables build."""
    rules = []
    for line in text.splitlines():
        line = re.sub(r"^\[\d+:\d+\] ", "", line)
        if line.startswith("-A KUBE-") and "CANARY" not in line:
            line = line.replace(" --random-fully", "")
            line = re.sub(r" -m nfacct --nfacct-name \S+", "", line)
            rules.append(line)
    return sorted(rules)


def test_kube_proxy_rules_are_what_kube_proxy_writes_for_these_objects(cluster):
    from kplab.walk import network
    generated = network(cluster).rules("worker-1")
    assert _kube_rules(DUMP.read_text()) == _kube_rules(generated)


def test_a_packet_walks_through_the_real_dump(cluster):
    from kplab.walk import trace
    t = trace(cluster, "shop/loadgen-7b6d9f8c4-q5vzt", "10.104.77.19", port=8080,
              rules={"worker-1": DUMP.read_text()})
    text = str(t)
    assert "KUBE-SVC-RUKNB3TURLFC6SGL" in text and "FLANNEL-FWD" in text
    assert "delivered to shop/api-5d8b7c9f6-xr7jn" in text
