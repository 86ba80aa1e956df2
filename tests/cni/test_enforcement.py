"""For every pair in every conformance case, Calico's rules walked by the netfilter engine agree with the semantics."""
from __future__ import annotations

import pytest

from kplab.cni.reach import truth_table

netfilter = pytest.importorskip("kplab.netfilter")
if not hasattr(netfilter, "Stack"):
    pytest.skip("kplab.netfilter.Stack is not available yet", allow_module_level=True)

from kplab.cni.enforcement import CalicoDataplane  # noqa: E402


def _outside(case) -> list[str]:
    pod_ips = {p["ip"] for p in case["pods"]}
    return sorted({x for pr in case["probes"] for x in (pr["from"], pr["to"]) if "/" not in x and x not in pod_ips})


def test_every_pair_walks_to_the_semantic_verdict(case, case_cluster):
    dataplane = CalicoDataplane(case_cluster)
    wrong = []
    for port, protocol in sorted({(pr["port"], pr["protocol"]) for pr in case["probes"]}):
        for row in truth_table(case_cluster, port, protocol, outside=_outside(case)).rows():
            walked = dataplane.allowed(row["from"], row["to"], port, protocol)
            if walked != row["allowed"]:
                wrong.append(f"{row['from']} -> {row['to']} {port}/{protocol}: rules {walked}, semantics {row['allowed']}")
    assert wrong == []


def test_probes_through_the_rules(case, case_cluster):
    dataplane = CalicoDataplane(case_cluster)
    for probe in case["probes"]:
        assert dataplane.allowed(probe["from"], probe["to"], probe["port"], probe["protocol"]) == probe["expected"], probe
