"""The Calico filter table's shape, and a randomised cross-check of rules walked vs semantics."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from kplab.cni.calico import calico_ipsets_text, calico_ruleset_text
from kplab.cni.caliconame import interface_name
from kplab.cni.reach import truth_table
from kplab.cni.verdict import evaluate
from kplab.errors import KplabError
from kplab.k8s.cluster import Cluster
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import ContainerPort, Pod

netfilter = pytest.importorskip("kplab.netfilter")


def cluster(policies: dict) -> Cluster:
    c = Cluster(nodes={n: Node(n, addresses=[NodeAddress("InternalIP", ip)])
                       for n, ip in (("n1", "172.18.0.2"), ("n2", "172.18.0.3"))})
    for i, (ns, name, labels) in enumerate([("x", "a", {"pod": "a"}), ("x", "b", {"pod": "b", "tier": "db"}),
                                            ("y", "a", {"pod": "a"}), ("y", "c", {"pod": "c"})]):
        c.namespaces.setdefault(ns, Namespace(ns, {"kubernetes.io/metadata.name": ns, "team": ns}))
        p = Pod(ns, name, labels, node_name=("n1", "n2")[i % 2], ip=f"10.0.{i}.{10 + i}",
                ports=[ContainerPort(80, "http"), ContainerPort(53, "dns", "UDP"), ContainerPort(9, "disc", "SCTP")])
        c.pods[p.key] = p
    for key, spec in policies.items():
        ns, name = key.split("/")
        c.networkpolicies[key] = NetworkPolicy(ns, name, spec)
    return c


def test_isolation_is_the_end_of_tier_drop_and_profiles_give_the_default_allow():
    c = cluster({"x/deny": {"podSelector": {"matchLabels": {"pod": "a"}}}})
    text = calico_ruleset_text(c, "n1")
    tw = f"cali-tw-{interface_name(c.pods['x/a'])}"
    fw = f"cali-fw-{interface_name(c.pods['x/a'])}"
    assert f"-A {tw} -m mark --mark 0x0/0x20000 -j cali-pi-knp/x/deny" in text
    assert "End of tier default" in "\n".join(l for l in text.splitlines() if l.startswith(f"-A {tw} "))
    assert "End of tier default" not in "\n".join(l for l in text.splitlines() if l.startswith(f"-A {fw} "))
    assert f"-A {fw} -j cali-pro-kns.x" in text
    assert ":cali-po-knp/x/deny" not in text  # no Egress in policyTypes: no outbound chain
    assert f"-A cali-from-wl-dispatch -i {interface_name(c.pods['x/a'])} -g {fw}" in text
    assert interface_name(c.pods["y/c"]) not in text  # y/c runs on n2


def test_text_parses_saves_and_lays_over_other_rules():
    c = cluster({"x/web": {"podSelector": {}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.2.0/24"]}}], "ports": [{"port": "http"}]}]}})
    ruleset = netfilter.parse_ruleset(calico_ruleset_text(c, "n1"), "calico")
    assert netfilter.parse_ruleset(ruleset.save(), "again").save() == ruleset.save()
    other = netfilter.parse_ruleset("*filter\n:FORWARD ACCEPT [0:0]\n:KUBE-FORWARD - [0:0]\n"
                                    "-A FORWARD -j KUBE-FORWARD\nCOMMIT\n", "kube-proxy")
    combined = other.combine(ruleset).save()
    assert combined.index("-j cali-FORWARD") < combined.index("-j KUBE-FORWARD")
    sets = calico_ipsets_text(c)
    assert "Type: hash:ip,port" in sets and "10.0.0.10,tcp:80" in sets and "10.0.1.11,tcp:80" in sets
    netfilter.parse_ipsets(sets, "sets")


def test_unknown_node_is_refused():
    with pytest.raises(KplabError, match="node n9 not found"):
        calico_ruleset_text(cluster({}), "n9")


SELECTORS = [{}, {"matchLabels": {"pod": "a"}}, {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
             {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}]
PEERS = [{"podSelector": {"matchLabels": {"pod": "b"}}}, {"namespaceSelector": {"matchLabels": {"team": "y"}}},
         {"namespaceSelector": {}, "podSelector": {"matchLabels": {"pod": "a"}}},
         {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}, {"ipBlock": {"cidr": "192.0.2.0/24"}}]
PORTS = [[{"port": 80}], [{"port": "http"}], [{"port": "dns", "protocol": "UDP"}], [{"protocol": "SCTP"}],
         [{"port": 70, "endPort": 90}, {"port": 53, "protocol": "UDP"}]]


def random_policies(rnd: random.Random) -> dict:
    out = {}
    for i in range(rnd.randint(1, 4)):
        spec = {"podSelector": rnd.choice(SELECTORS), "policyTypes": rnd.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])}
        for direction, word in (("ingress", "from"), ("egress", "to")):
            rules = []
            for _ in range(rnd.randint(0, 2)):
                rule = {}
                if rnd.random() < 0.7:
                    rule[word] = rnd.sample(PEERS, rnd.randint(1, 2))
                if rnd.random() < 0.7:
                    rule["ports"] = rnd.choice(PORTS)
                rules.append(rule)
            spec[direction] = rules
        out[f"{rnd.choice('xy')}/p{i}"] = spec
    return out


@pytest.mark.parametrize("seed", range(12))
def test_random_policies_rules_agree_with_semantics(seed):
    from kplab.cni.enforcement import CalicoDataplane
    rnd = random.Random(seed)
    c = cluster(random_policies(rnd))
    dataplane = CalicoDataplane(c)
    wrong = []
    for port, protocol in [(80, "TCP"), (53, "UDP"), (9, "SCTP"), (85, "TCP")]:
        for row in truth_table(c, port, protocol, outside=["192.0.2.7", "10.0.1.99"]).rows():
            if dataplane.allowed(row["from"], row["to"], port, protocol) != row["allowed"]:
                wrong.append((row, evaluate(c, row["from"], row["to"], port, protocol).reason))
    assert wrong == []


ARTICLE = Path(__file__).resolve().parents[2] / "data" / "policy"


@pytest.mark.skipif(not ARTICLE.is_dir(), reason="data/policy/ not present")
def test_article_allow_db_access():
    from kplab.k8s import load_cluster
    c = load_cluster(ARTICLE)
    front = evaluate(c, "default/frontend", "default/db", 5432, "TCP")
    back = evaluate(c, "default/backend", "default/db", 5432, "TCP")
    assert not front.allowed and "isolated for ingress by default/allow-db-access" in front.reason
    assert back.allowed and back.reason.startswith("allowed by default/allow-db-access ingress[0] from[0]")
    from kplab.cni.enforcement import CalicoDataplane
    dataplane = CalicoDataplane(c)
    assert not dataplane.allowed("default/frontend", "default/db", 5432) and dataplane.allowed("default/backend", "default/db", 5432)
