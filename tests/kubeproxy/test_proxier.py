"""Today's rule writer against kube-proxy's own expected dumps (full_dumps.json), after its normalising sort."""
from __future__ import annotations

import pytest

from kplab.kubeproxy import KubeProxy
from kplab.kubeproxy.normalise import sort_restore
from kplab.kubeproxy.proxier import probability


@pytest.mark.parametrize("case_id", ["TestOverallIPTablesRules", "TestBadIPs"])
def test_full_dump(conformance, case_id):
    case = next(c for c in conformance.load("full_dumps.json") if c["id"] == case_id)
    cluster, family = conformance.cluster(case["inputs"]["services"], case["inputs"]["endpointSlices"])
    result = KubeProxy(cluster, conformance.NODE, family=family).sync()
    assert result.ok and result.full
    assert sort_restore(result.payload) == case["expected_dump"]


@pytest.mark.parametrize("n,expected", [(1, "1.0000000000"), (2, "0.5000000000"), (3, "0.3333333333"),
                                         (4, "0.2500000000"), (100001, "0.0000099999")])
def test_probability_format(n, expected):
    assert probability(n) == expected
