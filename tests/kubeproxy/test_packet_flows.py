"""Every packet_flows.json case with a setup_ref: kplab generates the node's rules from the setup, the netfilter
engine walks the packet through them as the kernel would (every random choice enumerated), and endpoints,
verdict and masquerade must match kube-proxy's own expectations."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kplab.kubeproxy import KubeProxy

CONF = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "kube-proxy" / "packet_flows.json"
CASES = [c for c in json.loads(CONF.read_text()) if c.get("setup_ref")] if CONF.is_file() else []
DELETED_PHASES = {"after EndpointSlice deleted": "endpointslices", "after service deleted": "services"}


def _id(c):
    return "|".join(str(x) for x in (c["test"], c["subtest"], c["phase"], c["case"]) if x)


_rules_cache: dict = {}


def _ruleset(conformance, case):
    from kplab.netfilter import parse_ruleset
    key = (case["setup_ref"], json.dumps(case["proxier_config_overrides"], sort_keys=True), case["phase"])
    if key not in _rules_cache:
        cluster, family = conformance.setup_cluster(case["setup_ref"], case["proxier_config_overrides"])
        kp = KubeProxy(cluster, conformance.NODE, family=family)
        assert kp.sync().ok
        if case["phase"] in DELETED_PHASES:  # the test's second phase: the objects are deleted, kube-proxy resyncs
            getattr(cluster, DELETED_PHASES[case["phase"]]).clear()
            assert kp.sync().ok
        _rules_cache[key] = parse_ruleset(kp.ruleset_text(), source=case["setup_ref"])
    return _rules_cache[key]


@pytest.mark.skipif(not CASES, reason=f"kube-proxy conformance data not found at {CONF}")
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_packet_flow(conformance, case):
    pytest.importorskip("kplab.netfilter.stack")
    from kplab.kubeproxy.verdict import kube_proxy_verdict
    from kplab.netfilter import Packet
    from kplab.netfilter.node import node_stack, trace_first_packet
    from kplab.netfilter.node import endpoints, masquerade

    ruleset = _ruleset(conformance, case)
    # the fixture's local addresses: node IPs plus loopback (kube-proxy's tracer also counts ::1 as local)
    local_ips = ["127.0.0.1", "::1", *case["nodeIPs"]]
    # kube-proxy with localhostNodePorts (the fixture's setting) sets net.ipv4.conf.all.route_localnet=1
    stack = node_stack(ruleset, local_ips, route_localnet=True)
    packet = Packet(src=case["sourceIP"], dst=case["destIP"], protocol=case["protocol"], sport=40000,
                    dport=case["destPort"])
    outcomes = trace_first_packet(stack, packet)
    got = (sorted(endpoints(outcomes)), kube_proxy_verdict(outcomes), masquerade(outcomes))
    assert got == (sorted(case["expected_endpoints"]), case["expected_verdict"], case["masq"])
