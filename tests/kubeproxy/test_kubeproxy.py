"""The sync loop: TestSyncProxyRulesRepeated step by step (partial syncs, stale chains, recovery from a failed
partial restore), large-cluster mode, and node_ruleset_text."""
from __future__ import annotations

import re

import pytest

from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.service import Service, ServicePort
from kplab.kubeproxy import KubeProxy, node_ruleset_text
from kplab.kubeproxy.normalise import sort_restore


def _svc(ns, name, ip, port_name, port):
    return Service(ns, name, cluster_ip=ip, ports=[ServicePort(port, name=port_name)])


def _slice(ns, svc, port_name, port, *ips, name=None):
    return EndpointSlice(ns, name or f"{svc}-1", svc, endpoints=[Endpoint([ip]) for ip in ips],
                         ports=[EndpointPort(port, name=port_name)])


def _put(cluster, obj):
    table = cluster.services if isinstance(obj, Service) else cluster.endpointslices
    table[f"{obj.namespace}/{obj.name}"] = obj


def test_sync_proxy_rules_repeated(conformance):
    """The steps' inputs are those their descriptions in full_dumps.json state."""
    steps = [c for c in conformance.load("full_dumps.json") if c["id"].startswith("TestSyncProxyRulesRepeated#")]
    assert len(steps) == 9
    cluster, family = conformance.cluster([], [])
    kp = KubeProxy(cluster, conformance.NODE, family=family)

    def check(step, result):
        assert result.ok, result.error
        assert result.full == (step["sync_kind"] == "full"), step["id"]
        assert sort_restore(result.payload) == step["expected_dump"], step["id"]

    _put(cluster, _svc("ns1", "svc1", "172.30.0.41", "p80", 80))
    _put(cluster, _svc("ns2", "svc2", "172.30.0.42", "p8080", 8080))
    _put(cluster, _slice("ns1", "svc1", "p80", 80, "10.0.1.1"))
    _put(cluster, _slice("ns2", "svc2", "p8080", 8080, "10.0.2.1"))
    check(steps[0], kp.sync())

    _put(cluster, _svc("ns3", "svc3", "172.30.0.43", "p80", 80))
    _put(cluster, _slice("ns3", "svc3", "p80", 80, "10.0.3.1"))
    check(steps[1], kp.sync())

    del cluster.services["ns2/svc2"]
    check(steps[2], kp.sync())

    _put(cluster, _svc("ns4", "svc4", "172.30.0.44", "p80", 80))
    check(steps[3], kp.sync())

    _put(cluster, _slice("ns4", "svc4", "p80", 80, "10.0.4.1"))
    check(steps[4], kp.sync())

    _put(cluster, _slice("ns3", "svc3", "p80", 80, "10.0.3.2"))
    check(steps[5], kp.sync())

    _put(cluster, _slice("ns3", "svc3", "p80", 80, "10.0.3.2", "10.0.3.3"))
    check(steps[6], kp.sync())

    check(steps[7], kp.sync())

    # A rule kube-proxy did not write makes svc3's chain jump to svc4's endpoint chain; deleting svc4 then needs
    # a -X that iptables-restore refuses, because a partial sync does not rewrite svc3's chain.
    bogus = re.search(r"'-A (\S+) (-j \S+)'", steps[8]["description"])
    kp.tables.append_rule("nat", bogus.group(1), bogus.group(2))
    del cluster.services["ns4/svc4"]
    failed = kp.sync()
    assert not failed.ok and not failed.full and "Too many links" in failed.error
    assert kp.need_full_sync
    check(steps[8], kp.sync())
    assert bogus.group(2) not in kp.tables.rules("nat", bogus.group(1))


def _count_dnat(payload):
    return sum(1 for line in payload.splitlines() if "-j DNAT" in line)


def _dnat_comments(payload):
    return sum(1 for line in payload.splitlines() if "-j DNAT" in line and "--comment" in line)


def test_large_cluster_mode(conformance):
    case = next(c for c in conformance.load("chain_assertions.json") if c["test"] == "TestSyncProxyRulesLargeClusterMode")
    steps = case["steps"]
    now = [1000.0]
    cluster, family = conformance.cluster([], [], case["proxier_config_overrides"])
    cluster.proxy.sync_period = 30.0
    kp = KubeProxy(cluster, conformance.NODE, family=family, clock=lambda: now[0])
    _put(cluster, _svc("ns1", "svc1", "172.30.0.41", "p80", 80))
    _put(cluster, _svc("ns2", "svc2", "172.30.0.42", "p8080", 8080))
    _put(cluster, _svc("ns3", "svc3", "172.30.0.43", "p8081", 8081))
    _put(cluster, _slice("ns1", "svc1", "p80", 80, *[f"10.0.{i % 256}.{i // 256}" for i in range(499)]))
    _put(cluster, _slice("ns2", "svc2", "p8080", 8080, *[f"10.1.{i % 256}.{i // 256}" for i in range(499)]))

    def line_with(payload, text):
        return next(line for line in payload.splitlines() if f"--to-destination {text}:" in line)

    r = kp.sync()
    assert line_with(r.payload, "10.0.0.0") == steps[0]["expect_line_containing_10.0.0.0"]
    assert _count_dnat(r.payload) == steps[0]["expect_num_DNAT_rules"] == _dnat_comments(r.payload)

    _put(cluster, _slice("ns3", "svc3", "p8081", 8081, "203.0.113.4", "203.0.113.8", "203.0.113.12"))
    r = kp.sync()
    assert not r.full and kp.large_cluster
    assert line_with(r.payload, "203.0.113.4") == steps[1]["expect_line_containing_203.0.113.4"]
    assert _count_dnat(r.payload) == steps[1]["expect_num_DNAT_rules"]
    assert _dnat_comments(r.payload) == steps[1]["expect_num_comments_on_DNAT_rules"]

    r = kp.sync(full=True)
    assert line_with(r.payload, "10.0.0.0") == steps[2]["expect_line_containing_10.0.0.0"]
    assert _count_dnat(r.payload) == steps[2]["expect_num_DNAT_rules"]
    assert _dnat_comments(r.payload) == steps[2]["expect_num_comments_on_DNAT_rules"]

    _put(cluster, _svc("ns4", "svc4", "172.30.0.44", "p8082", 8082))
    _put(cluster, _slice("ns4", "svc4", "p8082", 8082, "10.4.0.1"))
    r = kp.sync()
    assert line_with(r.payload, "10.4.0.1") == steps[3]["expect_line_containing_10.4.0.1"]
    assert _count_dnat(r.payload) == steps[3]["expect_num_DNAT_rules"]

    kp.last_cleanup = now[0]
    del cluster.services["ns4/svc4"]
    r = kp.sync()
    assert _count_dnat(r.payload) == steps[4]["expect_num_DNAT_rules"]
    assert "-X " not in r.payload

    kp.last_cleanup = now[0] - 30.0 - 1e-9
    r = kp.sync()
    for expected in steps[5]["expect_contains"]:
        assert expected in r.payload.splitlines()

    r = kp.sync(full=True)
    assert _count_dnat(r.payload) == steps[6]["expect_num_DNAT_rules"]


def test_canary_loss_forces_full_sync(conformance):
    cluster, family = conformance.setup_cluster("setups.json#TestClusterIPGeneral")
    kp = KubeProxy(cluster, conformance.NODE, family=family)
    assert kp.sync().full
    assert not kp.sync().full
    kp.tables.delete_chain("mangle", "KUBE-PROXY-CANARY")
    assert kp.sync().full


def test_node_ruleset_text_is_complete(conformance):
    cluster, family = conformance.setup_cluster("setups.json#TestLoadBalancer")
    text = node_ruleset_text(cluster, conformance.NODE, family=family)
    lines = text.splitlines()
    assert lines.count("COMMIT") == 3
    assert ":PREROUTING ACCEPT [0:0]" in lines
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in lines
    assert '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING' in lines
    # EnsureRule(Prepend) in kube-proxy's order leaves the last-installed jump first
    input_rules = [l for l in lines if l.startswith("-A INPUT ")]
    assert input_rules[0] == "-A INPUT -j KUBE-FIREWALL"
    # every jump target is declared
    declared = {l[1:].split()[0] for l in lines if l.startswith(":")}
    for l in lines:
        if " -j KUBE-" in l:
            assert l.rsplit(" -j ", 1)[1].split()[0] in declared


def test_unknown_layout_is_a_user_error(conformance):
    from kplab.errors import KplabError
    cluster, _ = conformance.cluster([], [])
    with pytest.raises(KplabError, match="layout"):
        KubeProxy(cluster, conformance.NODE, layout="v1.2")
