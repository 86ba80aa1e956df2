"""Verdicts against the conformance cases, plus the attribution each verdict carries."""
from __future__ import annotations

import pytest

from kplab.cni.verdict import evaluate
from kplab.errors import KplabError
from kplab.k8s.cluster import Cluster
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import ContainerPort, Pod


def test_conformance_probes(case, case_cluster):
    wrong = []
    for probe in case["probes"]:
        v = evaluate(case_cluster, probe["from"], probe["to"], probe["port"], probe["protocol"])
        if v.allowed != probe["expected"]:
            wrong.append(f"{probe}: got {v}")
        if "expected_ingress" in probe and v.ingress.allowed != probe["expected_ingress"]:
            wrong.append(f"{probe}: ingress side {v.ingress.reason}")
        if "expected_egress" in probe and v.egress.allowed != probe["expected_egress"]:
            wrong.append(f"{probe}: egress side {v.egress.reason}")
    assert wrong == []


def small_cluster(*policies: tuple[str, str, dict], pods=None) -> Cluster:
    """x/a, x/b, y/a, y/b (the e2e suite's shape) on one node, plus the given policies."""
    pods = pods or [("x", "a", {"pod": "a"}, "10.0.1.1"), ("x", "b", {"pod": "b"}, "10.0.1.2"),
                    ("y", "a", {"pod": "a"}, "10.0.2.1"), ("y", "b", {"pod": "b"}, "10.0.2.2")]
    c = Cluster(nodes={"n1": Node("n1", addresses=[NodeAddress("InternalIP", "172.18.0.2")]),
                       "n2": Node("n2", addresses=[NodeAddress("InternalIP", "172.18.0.3")])})
    for ns, name, labels, ip in pods:
        c.namespaces.setdefault(ns, Namespace(ns, {"kubernetes.io/metadata.name": ns}))
        pod = Pod(ns, name, labels, node_name="n1", ip=ip, ports=[ContainerPort(80, "http"), ContainerPort(53, "dns", "UDP")])
        c.pods[pod.key] = pod
    for ns, name, spec in policies:
        c.networkpolicies[f"{ns}/{name}"] = NetworkPolicy(ns, name, spec)
    return c


def test_denial_names_isolating_policies_and_the_missing_rule():
    c = small_cluster(("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
                      ("x", "web", {"podSelector": {"matchLabels": {"pod": "a"}},
                                    "ingress": [{"ports": [{"port": 443}]}]}))
    v = evaluate(c, "x/b", "x/a", 80, "TCP")
    assert not v.allowed and v.egress.allowed and not v.ingress.allowed
    assert v.ingress.reason == "x/a is isolated for ingress by x/deny and x/web; no rule allows 80/TCP from x/b"
    assert v.policies == ("x/deny", "x/web")


def test_allow_names_policy_rule_peer_and_port():
    c = small_cluster(("x", "allow-b", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}, {"podSelector": {"matchLabels": {"pod": "b"}}}],
         "ports": [{"port": 8080}, {"port": "http"}]}]}))
    v = evaluate(c, "x/b", "x/a", 80, "tcp")
    assert v.allowed
    (m,) = v.ingress.matches
    assert (m.policy, m.rule, m.peer, m.port) == ("x/allow-b", 0, 1, 1)
    assert "x/allow-b ingress[0] from[1] (pods pod=b in namespace x) ports[1] (http/TCP)" in v.reason
    assert v.policies == ("x/allow-b",)
    # the same policy does not let y/b in (podSelector alone means the policy's own namespace)
    assert not evaluate(c, "y/b", "x/a", 80, "TCP").allowed


def test_policy_types_defaulting_egress_rules_alone_also_isolate_ingress():
    c = small_cluster(("x", "eg", {"podSelector": {}, "egress": [{}]}))
    assert not evaluate(c, "y/a", "x/a", 80, "TCP").allowed  # Ingress is implied
    assert evaluate(c, "x/a", "y/a", 80, "TCP").allowed  # egress [{}] allows all
    c = small_cluster(("x", "eg", {"podSelector": {}, "egress": []}))
    v = evaluate(c, "x/a", "y/a", 80, "TCP")
    assert v.allowed and not v.egress.isolated  # `egress: []` does not add Egress


def test_not_in_matches_an_absent_key_and_does_not_exist():
    spec = {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}}]}]}
    c = small_cluster(("x", "p", spec))
    assert evaluate(c, "y/b", "x/a", 80, "TCP").allowed  # y/b has no tier label: NotIn matches
    c.pods["y/b"].labels["tier"] = "db"
    assert not evaluate(c, "y/b", "x/a", 80, "TCP").allowed
    spec = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {
        "matchExpressions": [{"key": "pod", "operator": "DoesNotExist"}]}}]}]}
    c = small_cluster(("x", "p", spec))
    assert not evaluate(c, "x/b", "x/a", 80, "TCP").allowed


def test_namespace_selector_and_pod_selector_in_one_peer_is_and():
    c = small_cluster(("x", "p", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}},
         "podSelector": {"matchLabels": {"pod": "b"}}}]}]}))
    assert evaluate(c, "y/b", "x/a", 80, "TCP").allowed
    assert not evaluate(c, "y/a", "x/a", 80, "TCP").allowed
    assert not evaluate(c, "x/b", "x/a", 80, "TCP").allowed


def test_ip_block_except_matches_pod_addresses_too():
    c = small_cluster(("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
                                  "egress": [{"to": [{"ipBlock": {"cidr": "10.0.1.1/8", "except": ["10.0.2.2/32"]}}]}]}))
    assert evaluate(c, "x/a", "y/a", 80, "TCP").allowed
    assert not evaluate(c, "x/a", "y/b", 80, "TCP").allowed
    assert not evaluate(c, "x/a", "8.8.8.8", 53, "UDP").allowed


def test_named_port_needs_the_destination_pods_port_with_the_same_protocol():
    c = small_cluster(("x", "p", {"podSelector": {}, "policyTypes": ["Egress"],
                                  "egress": [{"ports": [{"port": "dns", "protocol": "UDP"}]}]}))
    assert evaluate(c, "x/a", "y/a", 53, "UDP").allowed
    assert not evaluate(c, "x/a", "y/a", 53, "TCP").allowed
    assert not evaluate(c, "x/a", "8.8.8.8", 53, "UDP").allowed  # an outside address has no named ports
    c = small_cluster(("x", "p", {"podSelector": {}, "policyTypes": ["Egress"],
                                  "egress": [{"ports": [{"port": "dns"}]}]}))  # TCP by default: mismatch
    assert not evaluate(c, "x/a", "y/a", 53, "UDP").allowed


def test_end_port_range_is_inclusive_and_protocols_do_not_mix():
    c = small_cluster(("x", "p", {"podSelector": {}, "ingress": [{"ports": [
        {"port": 8000, "endPort": 8080}, {"protocol": "SCTP"}]}]}))
    assert evaluate(c, "y/a", "x/a", 8080, "TCP").allowed
    assert not evaluate(c, "y/a", "x/a", 8081, "TCP").allowed
    assert evaluate(c, "y/a", "x/a", 9, "SCTP").allowed
    assert not evaluate(c, "y/a", "x/a", 8000, "UDP").allowed


def test_own_node_is_always_allowed_in_but_other_nodes_are_not():
    c = small_cluster(("x", "deny", {"podSelector": {}}))
    v = evaluate(c, "n1", "x/a", 80, "TCP")
    assert v.allowed and "own node" in v.ingress.reason
    assert not evaluate(c, "172.18.0.3", "x/a", 80, "TCP").allowed


def test_self_and_unknown_endpoints():
    c = small_cluster(("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
    assert evaluate(c, "x/a", "x/a", 80, "TCP").allowed
    with pytest.raises(KplabError, match="pod x/zz not found"):
        evaluate(c, "x/zz", "x/a", 80, "TCP")
    with pytest.raises(KplabError, match="ICMP"):
        evaluate(c, "x/b", "x/a", 80, "ICMP")
