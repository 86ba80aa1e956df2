"""The v1.19 layout against the article's listings, the listing form, and `kplab rules`."""
from __future__ import annotations

from pathlib import Path

import pytest

from kplab.cli import main
from kplab.k8s.cluster import Cluster
from kplab.k8s.endpointslice import Endpoint, EndpointPort, EndpointSlice
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.service import Service, ServicePort
from kplab.k8s.settings import ClusterSettings
from kplab.kubeproxy import KubeProxy, node_ruleset_text
from kplab.views.listing import list_rules

DATA = Path(__file__).resolve().parents[2] / "data"


def _minikube(etp=None, endpoint_nodes=("minikube", "minikube")):
    nodes = {n: Node(n, addresses=[NodeAddress("InternalIP", ip)])
             for n, ip in (("minikube", "192.168.49.2"), ("minikube-m02", "192.168.49.3"))}
    svc = Service("default", "webapp", type="NodePort", cluster_ip="10.103.46.104",
                  ports=[ServicePort(80, node_port=31380, target_port=80)], external_traffic_policy=etp)
    eps = EndpointSlice("default", "webapp-abc", "webapp", ports=[EndpointPort(80)], endpoints=[
        Endpoint([f"10.244.120.{102 + i}"], node_name=n) for i, n in enumerate(endpoint_nodes)])
    return Cluster(nodes=nodes, services={svc.key: svc}, endpointslices={"default/webapp-abc": eps},
                   settings=ClusterSettings(pod_subnet="10.244.0.0/16"))


def _listing(cluster, node, chain, layout="v1.19"):
    from kplab.netfilter import parse_ruleset
    return list_rules(parse_ruleset(node_ruleset_text(cluster, node, layout)).save(), "nat", chain)


def _rows(listing):
    """(target, prot, source, destination, rest) per rule row, whitespace-insensitive like the article's `column -t`."""
    rows = []
    for line in listing.splitlines()[2:]:
        parts = line.split(None, 5)
        rows.append(tuple(parts[:3]) + (parts[3], parts[4], parts[5] if len(parts) > 5 else ""))
    return rows


def test_article_nodeport_cluster_listings():
    c = _minikube()
    svc = _listing(c, "minikube", "KUBE-SERVICES")
    assert svc.splitlines()[0] == "Chain KUBE-SERVICES (2 references)"
    rows = _rows(svc)
    assert rows[0][:5] == ("KUBE-MARK-MASQ", "tcp", "--", "!10.244.0.0/16", "10.103.46.104")
    assert rows[0][5] == "/* default/webapp cluster IP */ tcp dpt:80"
    assert rows[1][0] == "KUBE-SVC-2IRACUALRELARSND"
    assert rows[-1][0] == "KUBE-NODEPORTS" and rows[-1][5].endswith("ADDRTYPE match dst-type LOCAL")
    nodeports = _rows(_listing(c, "minikube", "KUBE-NODEPORTS"))
    assert [(r[0], r[5]) for r in nodeports] == [("KUBE-MARK-MASQ", "/* default/webapp */ tcp dpt:31380"),
                                                 ("KUBE-SVC-2IRACUALRELARSND", "/* default/webapp */ tcp dpt:31380")]
    svc_chain = _listing(c, "minikube", "KUBE-SVC-2IRACUALRELARSND")
    assert svc_chain.splitlines()[0] == "Chain KUBE-SVC-2IRACUALRELARSND (2 references)"
    assert [(r[0], r[5]) for r in _rows(svc_chain)] == [
        ("KUBE-SEP-AO6KYGU752IZFEZ4", "/* default/webapp */ statistic mode random probability 0.50000000000"),
        ("KUBE-SEP-PJFBSHHDX4VZAOXM", "/* default/webapp */")]
    sep = _rows(_listing(c, "minikube", "KUBE-SEP-AO6KYGU752IZFEZ4"))
    assert [(r[0], r[1], r[3], r[5]) for r in sep] == [
        ("KUBE-MARK-MASQ", "all", "10.244.120.102", "/* default/webapp */"),
        ("DNAT", "tcp", "0.0.0.0/0", "/* default/webapp */ tcp to:10.244.120.102:80")]
    assert _rows(_listing(c, "minikube", "KUBE-MARK-MASQ"))[0][5] == "MARK or 0x4000"


def test_article_local_policy_node_without_endpoint():
    c = _minikube(etp="Local", endpoint_nodes=("minikube",))
    xlb = _listing(c, "minikube-m02", "KUBE-XLB-2IRACUALRELARSND")
    assert [(r[0], r[3], r[5]) for r in _rows(xlb)] == [
        ("KUBE-SVC-2IRACUALRELARSND", "10.244.0.0/16",
         "/* Redirect pods trying to reach external loadbalancer VIP to clusterIP */"),
        ("KUBE-MARK-MASQ", "0.0.0.0/0", "/* masquerade LOCAL traffic for default/webapp LB IP */ ADDRTYPE match src-type LOCAL"),
        ("KUBE-SVC-2IRACUALRELARSND", "0.0.0.0/0",
         "/* route LOCAL traffic for default/webapp LB IP to service chain */ ADDRTYPE match src-type LOCAL"),
        ("KUBE-MARK-DROP", "0.0.0.0/0", "/* default/webapp has no local endpoints */")]
    nodeports = _rows(_listing(c, "minikube-m02", "KUBE-NODEPORTS"))
    assert [(r[0], r[3]) for r in nodeports] == [("KUBE-MARK-MASQ", "127.0.0.0/8"), ("KUBE-XLB-2IRACUALRELARSND", "0.0.0.0/0")]
    local = _rows(_listing(c, "minikube", "KUBE-XLB-2IRACUALRELARSND"))
    assert local[-1][0].startswith("KUBE-SEP-") and local[-1][5] == "/* Balancing rule 0 for default/webapp */"
    assert _listing(c, "minikube", "KUBE-SVC-2IRACUALRELARSND").startswith(
        "Chain KUBE-SVC-2IRACUALRELARSND (3 references)")


def test_v119_has_no_partial_syncs_and_deletes_stale_chains():
    c = _minikube()
    kp = KubeProxy(c, "minikube", "v1.19")
    assert kp.sync().full
    c.endpointslices.clear()
    r = kp.sync()
    assert r.full and r.ok
    assert "-X KUBE-SVC-2IRACUALRELARSND" in r.payload.splitlines()
    assert '"default/webapp has no endpoints"' in r.payload


def test_current_layout_differs_where_the_article_is_old():
    text = node_ruleset_text(_minikube(etp="Local", endpoint_nodes=("minikube",)), "minikube-m02")
    assert "KUBE-XLB-" not in text and "KUBE-MARK-DROP" not in text
    assert '"default/webapp has no local endpoints"' in text and "KUBE-EXT-2IRACUALRELARSND" in text


@pytest.mark.skipif(not (DATA / "article").is_dir(), reason="data/article not present")
def test_cli_article_v119(capsys):
    assert main(["rules", str(DATA / "article"), "--node", "minikube", "--layout", "v1.19"]) == 0
    out = capsys.readouterr().out
    assert "-j KUBE-SVC-2IRACUALRELARSND" in out and '--comment "default/webapp cluster IP"' in out
    assert main(["rules", str(DATA / "article"), "--node", "minikube", "--form", "list", "--chain",
                 "KUBE-SERVICES"]) == 0
    assert capsys.readouterr().out.startswith("Chain KUBE-SERVICES (")
    assert main(["rules", str(DATA / "article"), "--node", "minikube", "--form", "save"]) == 0
    assert "-A KUBE-SERVICES -d " in capsys.readouterr().out


@pytest.mark.skipif(not (DATA / "article").is_dir(), reason="data/article not present")
def test_cli_unknown_node_exits_1(capsys):
    assert main(["rules", str(DATA / "article"), "--node", "nope"]) == 1
    assert 'node "nope" not found' in capsys.readouterr().err
