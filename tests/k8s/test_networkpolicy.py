"""Bad policies are refused with the API server's field-error wording (pkg/apis/networking/validation), when the
manifests load: the message names the file, the line and the policy; `kplab get`/`kplab reach` exit 1 on it."""
from __future__ import annotations

import pytest

from kplab.cli import main
from kplab.errors import KplabError
from kplab.k8s import load_cluster
from kplab.k8s.networkpolicy import NetworkPolicy, effective_types, spec_problems, validate_networkpolicy


def problems(spec: dict) -> list[str]:
    return spec_problems(NetworkPolicy("x", "p", spec))[1]


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


def test_effective_types():
    assert effective_types({}) == ("Ingress",)
    assert effective_types({"egress": [{}]}) == ("Ingress", "Egress")
    assert effective_types({"egress": []}) == ("Ingress",)
    assert effective_types({"policyTypes": ["Egress"], "ingress": [{}]}) == ("Egress",)


def test_validate_raises_kplab_error_naming_the_policy():
    with pytest.raises(KplabError, match=r'^NetworkPolicy x/p: The NetworkPolicy "p" is invalid: spec.policyTypes\[0\]'):
        validate_networkpolicy(NetworkPolicy("x", "p", {"policyTypes": ["Both"]}))


def test_several_problems_are_joined_like_the_api_server():
    with pytest.raises(KplabError, match=r'is invalid: \[spec.podSelector.matchExpressions\[0\].operator: .*, '
                                         r'spec.ingress\[0\].from\[0\]: Required value: must specify a peer\]'):
        validate_networkpolicy(NetworkPolicy("x", "p", {
            "podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            "ingress": [{"from": [{}]}]}))


BAD_POLICY = """
apiVersion: v1
kind: Pod
metadata: {name: db, labels: {role: db}}
spec: {containers: [{name: c, image: postgres}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-db-access, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]
"""
BAD_POLICY_MESSAGE = ('bad.yaml:6: NetworkPolicy default/allow-db-access: The NetworkPolicy "allow-db-access" is '
                      'invalid: spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a '
                      "strict subset of `cidr`")


def test_load_cluster_refuses_a_bad_policy_naming_file_line_and_policy(write):
    path = write("bad.yaml", BAD_POLICY)
    with pytest.raises(KplabError) as e:
        load_cluster(path)
    assert str(e.value) == f"{path.parent}/{BAD_POLICY_MESSAGE}"


def test_load_cluster_keeps_the_source_of_a_good_policy(write):
    path = write("good.yaml", BAD_POLICY.replace("10.1.0.0/24", "10.0.1.0/24"))
    policy = load_cluster(path).networkpolicies["default/allow-db-access"]
    assert policy.source == f"{path}:6"


@pytest.mark.parametrize("argv", [["get", "pods"], ["reach", "--json"]])
def test_cli_exits_1_on_a_bad_policy_without_traceback(write, capsys, argv):
    path = write("bad.yaml", BAD_POLICY)
    assert main([argv[0], *argv[1:], str(path)] if argv[0] == "get" else [argv[0], str(path), *argv[1:]]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == f"kplab: error: {path.parent}/{BAD_POLICY_MESSAGE}"
    assert "Traceback" not in err
