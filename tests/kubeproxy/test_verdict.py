"""kube-proxy's packet-flow cases that come with a rule dump, walked the kernel's way and named in the tracer's
vocabulary (kplab.kubeproxy.verdict). Data read in place from ../shared/conformance/kube-proxy/."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kplab.netfilter import Packet, parse_ruleset
from kplab.kubeproxy.verdict import kube_proxy_verdict
from kplab.netfilter.node import endpoints, masquerade, node_stack, trace_first_packet

CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "kube-proxy"


def dump_cases(conformance: Path):
    cases = json.loads((conformance / "packet_flows.json").read_text())
    return [c for c in cases if c.get("dump_ref")]


def test_every_dump_ref_case():
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    conformance = CONFORMANCE
    cases = dump_cases(conformance)
    assert len(cases) == 7
    failures = []
    for case in cases:
        ruleset = parse_ruleset((conformance / case["dump_ref"]).read_text(), case["dump_ref"])
        stack = node_stack(ruleset, case["nodeIPs"] + ["127.0.0.1"])
        packet = Packet(case["sourceIP"], case["destIP"], case["protocol"], 40000, case["destPort"])
        outcomes = trace_first_packet(stack, packet)
        got = (kube_proxy_verdict(outcomes), endpoints(outcomes), masquerade(outcomes))
        want = (case["expected_verdict"], sorted(case["expected_endpoints"]), case["masq"])
        if got != want:
            failures.append((case["case"], got, want))
    assert failures == []


def test_vocabulary_rules():
    rules = parse_ruleset("""*filter
:KUBE-NODEPORTS - [0:0]
-A INPUT -j KUBE-NODEPORTS
-A INPUT -p udp -j ACCEPT
-A KUBE-NODEPORTS -p tcp --dport 30000 -j ACCEPT
-A KUBE-NODEPORTS -p tcp --dport 30001 -j DROP
COMMIT
""")
    stack = node_stack(rules, ["192.168.0.2"])

    def verdict(dport, protocol="tcp"):
        return kube_proxy_verdict(trace_first_packet(stack, Packet("1.1.1.1", "192.168.0.2", protocol, 1, dport)))
    assert verdict(30000) == "ACCEPT"  # an explicit ACCEPT in a kube-proxy chain
    assert verdict(30001) == "DROP"
    assert verdict(30002) == "NO_MATCH"  # policy ACCEPT
    assert verdict(53, "udp") == "NO_MATCH"  # ACCEPT by a rule that is not kube-proxy's
