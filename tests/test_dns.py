"""Cluster DNS: A, headless, StatefulSet hostnames, ExternalName CNAME, SRV, search path, pod records, NXDOMAIN."""
from __future__ import annotations

from pathlib import Path

import pytest

from kplab.dns import candidates, resolve
from kplab.k8s import ClusterSettings, load_cluster

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def cluster():
    return load_cluster(DATA / "headless")


def test_search_path_order():
    assert candidates("web", "shop", "cluster.local") == [
        "web.shop.svc.cluster.local", "web.svc.cluster.local", "web.cluster.local", "web"]
    assert candidates("a.b.c.d.e.f", "x", "cluster.local")[0] == "a.b.c.d.e.f"  # 5 dots or more: as written first
    assert candidates("web.shop.svc.cluster.local.", "x", "cluster.local") == ["web.shop.svc.cluster.local"]


def test_cluster_ip_service(cluster):
    a = resolve(cluster, "kube-dns.kube-system")
    assert (a.rcode, a.name, a.addresses) == ("NOERROR", "kube-dns.kube-system.svc.cluster.local", ["10.96.0.10"])
    assert a.tried == ["kube-dns.kube-system.default.svc.cluster.local", "kube-dns.kube-system.svc.cluster.local"]
    assert resolve(cluster, "kubernetes").addresses == ["10.96.0.1"]


def test_short_name_depends_on_the_asking_namespace(cluster):
    assert resolve(cluster, "kube-dns", from_namespace="kube-system").addresses == ["10.96.0.10"]
    assert resolve(cluster, "kube-dns", from_namespace="default").rcode == "NXDOMAIN"


def test_headless_gives_ready_pod_ips(cluster):
    pods = sorted(p.ip for p in cluster.pods.values() if p.labels.get("app") == "webapp")
    a = resolve(cluster, "webapp-hs")
    assert a.rcode == "NOERROR" and a.addresses == pods


def test_headless_skips_not_ready_endpoints(cluster):
    import copy

    c = copy.deepcopy(cluster)
    (s,) = c.slices_for(c.service("webapp-hs"))
    s.endpoints[0].ready = False
    assert resolve(c, "webapp-hs").addresses == sorted(e.addresses[0] for e in s.endpoints[1:])


def test_statefulset_pod_names(cluster):
    for i in (0, 1):
        a = resolve(cluster, f"db-{i}.db")
        assert a.name == f"db-{i}.db.default.svc.cluster.local"
        assert a.addresses == [cluster.pod(f"db-{i}").ip]
    assert resolve(cluster, "db-7.db.default.svc.cluster.local.").rcode == "NXDOMAIN"
    missing = resolve(cluster, "db-7.db")  # after the search path, asked upstream as written
    assert missing.addresses == [] and missing.rcode == "FORWARDED" and missing.tried[-1] == "db-7.db"


def test_srv_records(cluster):
    a = resolve(cluster, "_postgres._tcp.db", qtype="SRV")
    assert sorted(r.value for r in a.records) == [
        "0 100 5432 db-0.db.default.svc.cluster.local.", "0 100 5432 db-1.db.default.svc.cluster.local."]
    a = resolve(cluster, "_dns._udp.kube-dns.kube-system.svc.cluster.local", qtype="SRV")
    assert [r.value for r in a.records] == ["0 100 53 kube-dns.kube-system.svc.cluster.local."]
    assert resolve(cluster, "_dns._sctp.kube-dns.kube-system.svc.cluster.local.", qtype="SRV").rcode == "NXDOMAIN"
    assert "IN\tSRV" in str(a)


def test_external_name_cname(write_cluster):
    c = write_cluster("apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\n"
                      "spec: {type: ExternalName, externalName: db.example.com}\n")
    a = resolve(c, "db", from_namespace="shop")
    assert [(r.type, r.value) for r in a.records] == [("CNAME", "db.example.com.")]


def test_pod_records(cluster):
    a = resolve(cluster, "10-244-1-2.default.pod.cluster.local")
    assert a.addresses == ["10.244.1.2"]
    assert resolve(cluster, "10-244-1-2.nowhere.pod.cluster.local").rcode == "NXDOMAIN"
    assert resolve(cluster, "not-an-ip.default.pod.cluster.local").rcode == "NXDOMAIN"


def test_nxdomain_is_an_answer_and_outside_names_are_forwarded(cluster):
    a = resolve(cluster, "nothing-here")
    assert a.rcode == "NXDOMAIN" and a.records == [] and len(a.tried) == 4
    assert resolve(cluster, "example.com").rcode == "FORWARDED"


def test_custom_domain(write_cluster):
    c = write_cluster("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking: {dnsDomain: k8s.test}\n---\n"
                      "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n")
    assert resolve(c, "web").name == "web.default.svc.k8s.test"
    assert resolve(c, "web.default.svc.cluster.local").rcode == "FORWARDED"
    assert isinstance(c.settings, ClusterSettings)


@pytest.fixture
def write_cluster(tmp_path):
    def _load(text: str):
        path = tmp_path / "m.yaml"
        path.write_text(text)
        return load_cluster(path)
    return _load
