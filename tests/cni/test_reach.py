"""The truth table must agree with evaluate() pair by pair, and with every conformance probe."""
from __future__ import annotations

from kplab.cni.reach import truth_table
from kplab.cni.verdict import evaluate


def _outside(case) -> list[str]:
    pod_ips = {p["ip"] for p in case["pods"]}
    return sorted({x for pr in case["probes"] for x in (pr["from"], pr["to"]) if "/" not in x and x not in pod_ips})


def test_table_agrees_with_evaluate_for_every_pair(case, case_cluster):
    for port, protocol in {(pr["port"], pr["protocol"]) for pr in case["probes"]}:
        table = truth_table(case_cluster, port, protocol, outside=_outside(case))
        n_pods = len(case["pods"])
        n_out = len(_outside(case))
        assert len(table) == n_pods * (n_pods - 1) + 2 * n_pods * n_out
        for row in table.rows():
            v = evaluate(case_cluster, row["from"], row["to"], port, protocol)
            assert (row["allowed"], row["ingress"], row["egress"]) == (v.allowed, v.ingress.allowed, v.egress.allowed), row
            assert row["policies"] == list(v.policies), row


def test_table_passes_the_probes(case, case_cluster):
    for probe in case["probes"]:
        (row,) = truth_table(case_cluster, probe["port"], probe["protocol"], src=probe["from"], dst=probe["to"]).rows()
        assert row["allowed"] == probe["expected"], (probe, row)


def test_reasons_and_shape(case, case_cluster):
    probe = case["probes"][0]
    rows = truth_table(case_cluster, probe["port"], probe["protocol"], src=probe["from"], reasons=True).rows()
    assert all(list(r) == ["from", "to", "port", "protocol", "allowed", "ingress", "egress", "policies", "reason"]
               for r in rows)
    assert len(rows) == len(case["pods"]) - ("/" in probe["from"])
    assert {r["from"] for r in rows} <= {probe["from"]}
    assert all(len(r["reason"]) > 0 for r in rows)
    assert all("reason" not in r for r in truth_table(case_cluster, probe["port"], probe["protocol"],
                                                      src=probe["from"]).rows())
