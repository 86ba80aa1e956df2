"""Bad policies are refused with the API server's field-error wording (pkg/apis/networking/validation)."""
from __future__ import annotations

import pytest

from kplab.cni.policy import compile_policy, effective_types, policy_problems
from kplab.errors import KplabError
from kplab.k8s.networkpolicy import NetworkPolicy


def problems(spec: dict) -> list[str]:
    return policy_problems(NetworkPolicy("x", "p", spec))[1]


@pytest.mark.parametrize("spec, expected", [
    ({"podSelector": {"matchLabels": {"app": "bad value!"}}},
     'spec.podSelector.matchLabels: Invalid value: "bad value!": a valid label must be an empty string or consist of'),
    ({"podSelector": {"matchLabels": {"-bad": "x"}}},
     'spec.podSelector.matchLabels: Invalid value: "-bad": name part must consist of alphanumeric characters'),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
     "spec.podSelector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}},
     'spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator'),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
     'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}]},
     'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`'),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/16"]}}]}]},
     'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.0.0.0/16": must be a strict subset of `cidr`'),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Egres"]},
     'spec.policyTypes[1]: Unsupported value: "Egres": supported values: "Ingress", "Egress"'),
    ({"podSelector": {}, "egress": [{"ports": [{"endPort": 90}]}]},
     "spec.egress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is not specified"),
    ({"podSelector": {}, "egress": [{"ports": [{"port": 90, "endPort": 80}]}]},
     "spec.egress[0].ports[0].endPort: Invalid value: 90: must be greater than or equal to `port`"),
    ({"podSelector": {}, "egress": [{"ports": [{"port": "http", "endPort": 80}]}]},
     "spec.egress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` is non-numeric"),
    ({"podSelector": {}, "egress": [{"ports": [{"protocol": "ICMP"}]}]},
     'spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'),
    ({"podSelector": {}, "ingress": [{"from": [{}]}]},
     "spec.ingress[0].from[0]: Required value: must specify a peer"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"),
])
def test_refusals(spec, expected):
    found = problems(spec)
    assert any(p.startswith(expected) for p in found), found


def test_compile_raises_kplab_error_naming_the_policy():
    with pytest.raises(KplabError, match=r'NetworkPolicy x/p: The NetworkPolicy "p" is invalid: spec.policyTypes\[0\]'):
        compile_policy(NetworkPolicy("x", "p", {"policyTypes": ["Both"]}))


def test_valid_policies_have_no_problems_and_host_bits_are_masked():
    compiled, found = policy_problems(NetworkPolicy("x", "p", {"podSelector": {}, "egress": [
        {"to": [{"ipBlock": {"cidr": "10.244.1.11/4", "except": ["10.244.1.12/32"]}}],
         "ports": [{"port": 32000, "endPort": 32768}, {"port": "dns", "protocol": "UDP"}]}]}))
    assert found == []
    assert str(compiled.egress[0].peers[0].ip_block.cidr) == "0.0.0.0/4"
    assert compiled.types == ("Ingress", "Egress")


def test_effective_types():
    assert effective_types({}) == ("Ingress",)
    assert effective_types({"egress": [{}]}) == ("Ingress", "Egress")
    assert effective_types({"egress": []}) == ("Ingress",)
    assert effective_types({"policyTypes": ["Egress"], "ingress": [{}]}) == ("Egress",)
