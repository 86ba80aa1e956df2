"""The compiled policy kplab.cni evaluates: built on the validated spec, refused with the API server's wording."""
from __future__ import annotations

import pytest

from kplab.cni.policy import compile_policy, policy_problems
from kplab.errors import KplabError
from kplab.k8s.networkpolicy import NetworkPolicy


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
