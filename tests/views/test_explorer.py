"""The explorer: every switch changes what the walk runs on (a copy of the cluster), the panes redraw, mistakes
are shown instead of raised, and the cluster passed in is never touched."""
from __future__ import annotations

import pytest

import kplab
from kplab.errors import KplabError
from kplab.views.explorer import OUTSIDE_CLIENT, explore


@pytest.fixture(scope="module")
def nodeport_local():
    return kplab.load("nodeport-local")


def test_opens_on_a_trace(article):
    ex = explore(article)
    assert ex.source.value.startswith("default/") and ex.destination.value.endswith("/svc/backend")
    assert "ACCEPT" in ex.status.value and ex.player.value.startswith('<iframe class="kplab-player"')
    assert "<table" in ex.steps.value


def test_cni_switch_redraws_the_picture(article):
    ex = explore(article)
    before, first = ex.player.value, ex.cni.value
    marks = {"bridge": "cni0 bridge", "calico": "cali* veths, one /32 route each"}
    other = "bridge" if first == "calico" else "calico"
    assert marks[first] in before and marks[other] not in before
    ex.cni.value = other
    assert ex.player.value != before and marks[other] in ex.player.value and marks[first] not in ex.player.value
    ex.cni.value = first
    assert ex.player.value == before  # the same setting draws the same picture


def test_external_traffic_policy_local_drops_on_a_node_without_endpoint(nodeport_local):
    svc = nodeport_local.services["default/frontend"]
    node_port = svc.ports[0].node_port
    empty = next(n for n in sorted(nodeport_local.nodes)
                 if not any(p.node_name == n and p.labels.get("app") == "webapp" for p in nodeport_local.pods.values()))
    ex = explore(nodeport_local, source=OUTSIDE_CLIENT, destination=f"{empty}:{node_port}")
    assert ex.trace.verdict == "DROP", "the manifest says Local"
    ex.etp.value = "Cluster"
    assert ex.trace.verdict == "ACCEPT" and ex.trace.delivered_to
    ex.etp.value = "Local"
    assert ex.trace.verdict == "DROP"
    assert svc.external_traffic_policy == "Local" and nodeport_local.services["default/frontend"] is svc


def test_policy_switch(policy_cluster):
    frontend = next(p.key for p in policy_cluster.pods.values() if p.name.startswith("frontend"))
    ex = explore(policy_cluster, source=frontend, destination="default/svc/db")
    ex.cni.value = "calico"  # Calico enforces the policies
    assert ex.trace.verdict in ("DROP", "REJECT")
    ex.policies["default/allow-db-access"].value = False
    assert ex.trace.verdict == "ACCEPT"
    assert "default/allow-db-access" in policy_cluster.networkpolicies


def test_masquerade_all_and_layout_reach_the_rules(article):
    ex = explore(article)
    ex.masquerade.value = True
    assert ex.variant().proxy.masquerade_all is True and article.proxy.masquerade_all is False
    masq = [s for _, s in ex.trace.steps() if s.action == "MASQUERADE"]
    assert masq, "masqueradeAll SNATs every Service connection"
    ex.layout_.value = "v1.19"
    assert ex.options()["layout"] == "v1.19" and "ACCEPT" in ex.status.value


def test_tabs_draw_when_opened(policy_cluster):
    frontend = next(p.key for p in policy_cluster.pods.values() if p.name.startswith("frontend"))
    ex = explore(policy_cluster, source=frontend, destination="default/svc/db")
    assert ex.chains.value == "" and ex.matrix.value == ""
    ex.tabs.selected_index = 2
    assert 'data-testid="service-chains"' in ex.chains.value
    ex.tabs.selected_index = 3
    assert 'data-testid="policy-matrix"' in ex.matrix.value


def test_mistakes_are_shown(article):
    ex = explore(article)
    ex.port.value = "http"
    assert "a number 1-65535" in ex.status.value
    ex.port.value = "81"
    assert "explorer-error" in ex.status.value or "REJECT" in ex.status.value or "DROP" in ex.status.value
    with pytest.raises(KplabError, match="normal or presentation"):
        explore(article, size="big")


def test_presentation_size(article):
    ex = explore(article, size="presentation")
    assert "font-size:20px" in ex.children[0].value
    assert "font-size:19px" in ex.player.value  # the player's text is enlarged too


def test_front_door(article):
    ex = kplab.explore(article)
    assert ex.trace.verdict == "ACCEPT"
