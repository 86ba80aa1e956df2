"""calico_rules: the chains and ipsets that police one pod, as Felix lays them out."""
from __future__ import annotations

import pytest

from kplab.errors import KplabError
from kplab.k8s import find_data_dir, load_cluster
from kplab.views.calico import calico_rules


@pytest.fixture(scope="module")
def cluster():
    return load_cluster(find_data_dir() / "policy")


def _pod(cluster, app):
    return next(k for k, p in cluster.pods.items() if p.labels.get("app") == app)


def test_db_ingress_chain_calls_its_policy_and_names_the_backend_ipset(cluster):
    view = calico_rules(cluster, _pod(cluster, "db"))
    names = [n for n, _ in view.chains]
    assert names[0] == f"cali-tw-{view.interface}" and names[1].startswith("cali-pi-")
    assert f"cali-fw-{view.interface}" in names
    assert any("End of tier default" in r for r in view.chains[0][1])
    [(ipset, text)] = view.ipsets
    backend_ip = cluster.pods[_pod(cluster, "backend")].ip
    assert ipset.startswith("cali40s:") and text.rstrip().endswith(backend_ip)
    assert "app == 'backend'" in text
    assert 'data-testid="calico-rules"' in view._repr_html_()


def test_an_unselected_pod_has_no_policy_chain(cluster):
    view = calico_rules(cluster, _pod(cluster, "frontend"))
    assert not any(n.startswith(("cali-pi-", "cali-po-")) for n, _ in view.chains)
    assert view.ipsets == ()


def test_unknown_pod_is_a_clear_error(cluster):
    with pytest.raises(KplabError, match="default/nope"):
        calico_rules(cluster, "default/nope")
    with pytest.raises(KplabError, match="is not a pod"):
        calico_rules(cluster, "svc/db")


def test_a_workload_name_means_its_pod(cluster):
    assert calico_rules(cluster, "deploy/db").pod == _pod(cluster, "db")
