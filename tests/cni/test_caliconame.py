"""Calico's names, checked against the test vectors in ../shared/reference/calico.md §6 (from Calico's own tests)."""
from __future__ import annotations

from kplab.cni.caliconame import (endpoint_chain, interface_name, length_limited_id, named_port_set_name,
                                  policy_chain, profile_chain, selector_set_name)
from kplab.k8s.pod import Pod


def test_interface_and_endpoint_chains():
    pod = Pod("x", "a")
    assert interface_name(pod) == "cali456b416f2bf"
    assert endpoint_chain("Ingress", interface_name(pod)) == "cali-tw-cali456b416f2bf"
    assert endpoint_chain("Egress", interface_name(pod)) == "cali-fw-cali456b416f2bf"


def test_policy_and_profile_chains():
    assert policy_chain("Ingress", "x", "deny-all") == "cali-pi-knp/x/deny-all"
    assert policy_chain("Egress", "x", "deny-all") == "cali-po-knp/x/deny-all"
    assert policy_chain("Ingress", "x", "allow-client-a-via-ns-selector") == "cali-pi-_EbIJOVuoGhrNFcOhuNP"
    assert length_limited_id("cali-pi-", "default/x/knp.default.deny-all") == "cali-pi-_6_Ow_docg0kikoIvT6r"
    assert profile_chain("Ingress", "kns.x") == "cali-pri-kns.x"
    assert profile_chain("Ingress", "kns.my-very-long-namespace") == "cali-pri-_2NG9rXduYPJL-twfTO"


def test_length_limit_edge_cases():
    assert length_limited_id("p-", "a" * 26) == "p-" + "a" * 26  # exactly 28, not starting with _
    assert length_limited_id("p-", "_" + "a" * 25) != "p-_" + "a" * 25  # exactly 28 starting with _: hashed
    assert len(length_limited_id("cali-pi-", "x" * 100)) == 28


def test_ipset_names_have_calicos_shape():
    s = selector_set_name("has(projectcalico.org/namespace)")
    assert s.startswith("cali40s:") and len(s) == 31
    assert s != selector_set_name("all()")
    n = named_port_set_name("all()", "TCP", "http")
    assert n.startswith("cali40n:") and len(n) == 31
