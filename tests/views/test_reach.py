"""The truth table as a DataFrame: one row a pair, the same verdicts as the core's rows, categoricals for size."""
from __future__ import annotations

from kplab.cni.reach import truth_table
from kplab.views.reach import truth_frame

COLUMNS = ["from", "to", "port", "protocol", "allowed", "ingress", "egress", "policies"]


def _records(frame) -> list[dict]:
    return [{**r, "from": str(r["from"]), "to": str(r["to"]), "port": int(r["port"]),
             "allowed": bool(r["allowed"]), "ingress": bool(r["ingress"]), "egress": bool(r["egress"]),
             "policies": [p for p in str(r["policies"]).split(", ") if p]} for r in frame.to_dict("records")]


def test_frame_holds_the_rows_of_the_table(policy_cluster):
    table = truth_table(policy_cluster, 5432, "tcp")
    frame = truth_frame(table)
    assert list(frame.columns) == COLUMNS
    assert _records(frame) == table.rows()
    assert any(not r["allowed"] for r in table.rows())  # the cluster's policies deny something at 5432
    assert str(frame["from"].dtype) == "category" and str(frame["policies"].dtype) == "category"


def test_reasons_become_a_column(policy_cluster):
    table = truth_table(policy_cluster, 53, "UDP", reasons=True)
    frame = truth_frame(table)
    assert list(frame.columns) == COLUMNS + ["reason"]
    assert _records(frame) == table.rows() and all(frame["reason"])


def test_a_node_source_is_evaluated_pair_by_pair(policy_cluster):
    # a node's own pods accept it (kubelet probes): those rows are re-decided after the bulk pass
    node = next(iter(policy_cluster.nodes))
    table = truth_table(policy_cluster, 5432, "TCP", src=node)
    assert len(table) == len(policy_cluster.pods) and len(truth_frame(table)) == len(table)
    assert _records(truth_frame(table)) == table.rows()


def test_enforcement_note_only_when_a_policy_decided_and_the_cni_ignores_it():
    from kplab.views.reach import enforcement_note

    row = {"from": "default/a", "to": "default/b", "port": 80, "protocol": "TCP", "allowed": False,
           "policies": ["default/deny"], "cni": "bridge", "enforced": False}
    assert "(bridge) does not enforce NetworkPolicy" in enforcement_note([row])
    assert enforcement_note([{**row, "enforced": True, "cni": "calico"}]) is None
    assert enforcement_note([{**row, "policies": []}]) is None
    assert enforcement_note([{k: v for k, v in row.items() if k not in ("cni", "enforced")}]) is None


def test_reach_table_shows_every_why_in_full_with_no_index_and_the_enforcement_note():
    import kplab
    from kplab.views.reach import reach_table

    rows = kplab.reach(kplab.load("policy"), dst="deploy/db", port=5432)
    html = reach_table(rows).to_html()
    longest = max((r["reason"] for r in rows), key=len)
    assert len(longest) > 50 and longest.replace("'", "&#x27;") in html.replace("&#39;", "&#x27;")
    assert 'class="row_heading' not in html  # no pandas index column
    assert "does not enforce NetworkPolicy" in html  # the policy scenario's bridge CNI enforces nothing
