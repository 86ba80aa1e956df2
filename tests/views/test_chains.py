"""The Service chain view follows the node's real kube-proxy rules: KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP with
the statistic probabilities (1/n, 1/(n-1), ..., the rest) and equal shares, in both layouts."""
from __future__ import annotations

from fractions import Fraction

import pytest

from kplab.errors import KplabError
from kplab.k8s import load_cluster
from kplab.kubeproxy import node_ruleset_text
from kplab.views.chains import service_chains
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"


def test_article_webapp_splits_in_halves(article):
    view = service_chains(article, "webapp", node="minikube")
    pods = sorted(f"{p.ip}:80" for p in article.pods.values() if p.name.startswith("webapp"))
    for layout in ("current", "v1.19"):
        tree = view.tree(layout)
        assert tree.endpoints() == {ep: Fraction(1, 2) for ep in pods}
        text = node_ruleset_text(article, "minikube", layout=layout)
        for chain in tree.chains:
            assert f":{chain} " in text, f"{chain} is a chain of the node's {layout} rules"
        assert "statistic mode random probability 0.50000000000" in tree.listing
    assert view.tree("current").chains[0].startswith("KUBE-SVC-")


def test_four_endpoints_tell_the_quarter_third_half_story(four_nodes):
    view = service_chains(four_nodes, "default/auth", port=80, node="minikube-m02")
    for layout in ("current", "v1.19"):
        svc_chain = next(b.chain for e, b in view.tree(layout).entries
                         if e == "KUBE-SERVICES" and b.chain is not None)
        seps = [b for b in svc_chain.branches if b.target.startswith("KUBE-SEP-")]
        assert [b.probability for b in seps] == [Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), None]
        assert [b.share for b in seps] == [Fraction(1, 4)] * 4
        assert all(b.chain.branches[-1].dnat for b in seps)
        assert "the rest" in view.text(layout)
    assert sum(view.tree().endpoints().values()) == 1


def test_nodeport_local_v119_drops_without_local_endpoint():
    cluster = load_cluster(DATA / "nodeport-local")
    frontend_node = next(p.node_name for p in cluster.pods.values() if p.name.startswith("frontend") or
                         p.labels.get("app") == "webapp")
    other = next(n for n in sorted(cluster.nodes) if n != frontend_node)
    view = service_chains(cluster, "frontend", node=other, layouts=("v1.19",))
    text = view.text("v1.19")
    assert "KUBE-NODEPORTS" in text and "KUBE-XLB-" in text and "KUBE-MARK-DROP" in text
    assert "has no local endpoints" in text


def test_html_has_both_layouts_side_by_side(article):
    html = service_chains(article, "default/webapp")._repr_html_()
    assert 'data-testid="chains-current"' in html and 'data-testid="chains-v1.19"' in html
    assert "iptables -t nat -L -n" in html and "DNAT to 10.244.120.102:80" in html


@pytest.mark.parametrize("args,message", [
    (("nosuch",), "Service default/nosuch not found"),
    (("webapp", 81), "has no port 81"),
    (("webapp", None, "node-9"), "node node-9 not found"),
])
def test_errors_name_the_object(article, args, message):
    with pytest.raises(KplabError, match=message):
        service_chains(article, *args)


def test_headless_service_has_no_rules():
    cluster = load_cluster(DATA / "headless")
    with pytest.raises(KplabError, match="no kube-proxy rule for Service default/webapp-hs"):
        service_chains(cluster, "webapp-hs")


def test_session_affinity_first_connection_splits_in_halves(article):
    """With sessionAffinity: ClientIP each KUBE-SEP is drawn under its `recent --rcheck` rule and the coin tosses
    jump to it again; a client on no list still ends at each endpoint with 1/2 (the DNAT rule's `recent --set`
    tests nothing)."""
    sticky = load_cluster(DATA / "article", DATA / "kube-proxy" / "sticky-service.yaml")
    view = service_chains(sticky, "webapp-sticky", node="minikube")
    pods = sorted(f"{p.ip}:80" for p in sticky.pods.values() if p.name.startswith("webapp"))
    for layout in ("current", "v1.19"):
        assert "--rcheck" in view.text(layout)
        assert view.tree(layout).endpoints() == {ep: Fraction(1, 2) for ep in pods}
    assert "no endpoint" not in view._repr_html_()
