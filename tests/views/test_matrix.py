"""The policy matrix draws the reach rows it is given: each pair's verdict, the deciding policy on hover and in
the side table, one grid per port/protocol."""
from __future__ import annotations

import re

import pytest

from kplab.cni.reach import truth_table
from kplab.errors import KplabError
from kplab.views.matrix import policy_matrix
from kplab.views.reach import truth_frame


@pytest.fixture(scope="module")
def rows(policy_cluster):
    return (truth_table(policy_cluster, 5432, "TCP", reasons=True).rows()
            + truth_table(policy_cluster, 53, "UDP", reasons=True).rows())


def _pod(cluster, prefix):
    return next(p.key for p in cluster.pods.values() if p.name.startswith(prefix))


def test_grids_per_port_and_protocol(rows):
    m = policy_matrix(rows)
    assert [(g.port, g.protocol) for g in m.grids] == [(53, "UDP"), (5432, "TCP")]
    g = m.grid(5432)
    assert len(g.cells) == len(rows) // 2
    assert len(g.sources) == len(g.destinations) == 4


def test_denied_cell_names_the_policy(rows, policy_cluster):
    frontend, db, backend = (_pod(policy_cluster, n) for n in ("frontend", "db", "backend"))
    g = policy_matrix(rows, port=5432).grids[0]
    denied, allowed = g.cells[(frontend, db)], g.cells[(backend, db)]
    assert not denied.allowed and denied.policies == ("default/allow-db-access",)
    assert allowed.allowed and "allowed by default/allow-db-access ingress[0]" in allowed.reason
    assert [(c.src, c.dst) for c in g.decided()] == [(backend, db), (frontend, db),
                                                     (_pod(policy_cluster, "coredns"), db)]
    html = policy_matrix(rows, port=5432)._repr_html_()
    cell = re.search(rf'<td class="no" title="([^"]*)" data-from="{frontend}" data-to="{db}"', html)
    assert cell and "DENIED" in cell.group(1) and "allow-db-access" in cell.group(1)
    assert html.count('<td class="no"') == 2 + 2  # two red cells, two red side-table verdicts


def test_without_policies_everything_is_green(article, rows):
    m = policy_matrix(truth_table(article, 80, "TCP", reasons=True).rows())
    g = m.grids[0]
    assert all(c.allowed for c in g.cells.values()) and g.decided() == []
    assert "everything is allowed" in m._repr_html_()
    # an isolated pod is isolated at every port: db denies DNS-port traffic from frontend too
    assert any(not c.allowed for c in policy_matrix(rows, port=53, protocol="udp").grids[0].cells.values())


def test_text_grid_and_dataframe_input(policy_cluster):
    frame = truth_frame(truth_table(policy_cluster, 5432, "TCP"))
    m = policy_matrix(frame)
    text = str(m)
    assert text.count("✗") == 2 and text.startswith("5432/TCP")
    assert m.grids[0].cells[(_pod(policy_cluster, "frontend"), _pod(policy_cluster, "db"))].policies == \
        ("default/allow-db-access",)


def test_no_rows_is_an_error(rows):
    with pytest.raises(KplabError, match="no reach rows for port 8080"):
        policy_matrix(rows, port=8080)


def test_a_cni_that_does_not_enforce_is_said_on_the_matrix(policy_cluster):
    import kplab

    rows = kplab.reach(policy_cluster, port=5432)
    assert {r["cni"] for r in rows} == {"bridge"} and not rows[0]["enforced"]
    m = policy_matrix(rows)
    assert "bridge) does not enforce NetworkPolicy" in m.note
    assert str(m).startswith("note: These are the NetworkPolicies' verdicts") and m.note in str(m)
    assert 'data-testid="enforcement-note"' in m._repr_html_()
    enforced = policy_matrix([{**r, "cni": "calico", "enforced": True} for r in rows])
    assert enforced.note == "" and "enforcement-note" not in enforced._repr_html_()
    # rows that do not say (a truth table's) get no note; nor do rows no policy decided
    assert policy_matrix(truth_table(policy_cluster, 5432, "TCP").rows()).note == ""
    assert policy_matrix([{**r, "policies": []} for r in rows]).note == ""
