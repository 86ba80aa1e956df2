"""chain_assertions.json: exact chain contents and rule existence (large-cluster mode is in test_kubeproxy.py)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kplab.kubeproxy import KubeProxy

CONF = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "kube-proxy" / "chain_assertions.json"
CASES = json.loads(CONF.read_text()) if CONF.is_file() else []
EXACT = [c for c in CASES if c["kind"].startswith("exact chain contents")]
EXISTENCE = [c for c in CASES if c["kind"] == "rule existence"]


def _payload(conformance, case):
    if case.get("setup_ref"):
        cluster, family = conformance.setup_cluster(case["setup_ref"], case.get("proxier_config_overrides"))
    else:
        assert case.get("setup") == "no services"
        cluster, family = conformance.cluster([], [], case.get("proxier_config_overrides"))
    result = KubeProxy(cluster, conformance.NODE, family=family).sync()
    assert result.ok
    return result.payload


@pytest.mark.skipif(not CASES, reason=f"kube-proxy conformance data not found at {CONF}")
@pytest.mark.parametrize("case", EXACT, ids=[f'{c["test"]}|{c.get("subtest")}' for c in EXACT])
def test_exact_chain(conformance, case):
    payload = _payload(conformance, case)
    assert conformance.chain_rules(payload, case["table"], case["chain"]) == case["expected_rules"]


@pytest.mark.skipif(not CASES, reason=f"kube-proxy conformance data not found at {CONF}")
@pytest.mark.parametrize("case", EXISTENCE, ids=[c["subtest"] for c in EXISTENCE])
def test_rule_existence(conformance, case):
    """The setup is given as prose; its numbers are read from it."""
    svc_text, ep_text = case["setup"]["service"], case["setup"]["endpoints"]
    ns, name, port_name, port, proto = re.search(r"(\S+)/(\S+) LoadBalancer .* port (\S+) (\d+)/(\w+)", svc_text).groups()
    cluster_ip = re.search(r"clusterIP (\S+)", svc_text).group(1)
    node_port = int(re.search(r"nodePort (\d+)", svc_text).group(1))
    ingress_ip, mode = re.search(r"ingress IP (\S+) ipMode (\w+)", svc_text).groups()
    ep_ip, ep_port = re.search(r"([\d.]+):(\d+)", ep_text).groups()
    svc = {"namespace": ns, "name": name, "type": "LoadBalancer", "clusterIP": cluster_ip,
           "ports": [{"name": port_name, "port": int(port), "protocol": proto, "nodePort": node_port}],
           "loadBalancerIngress": [{"ip": ingress_ip, "ipMode": None if mode == "None" else mode}]}
    eps = {"namespace": ns, "service": name, "sliceName": f"{name}-1", "addressType": "IPv4",
           "ports": [{"name": port_name, "port": int(ep_port), "protocol": proto}],
           "endpoints": [{"addresses": [ep_ip], "nodeName": None}]}
    cluster, family = conformance.cluster([svc], [eps])
    payload = KubeProxy(cluster, conformance.NODE, family=family).sync().payload
    table, chain, needle, expected = re.match(r"(\w+) (\S+) contains a rule with '(.*)': (True|False)",
                                              case["assert"]).groups()
    rules = conformance.chain_rules(payload, table, chain).splitlines()
    assert any(needle + " " in r for r in rules) == (expected == "True")
