"""kubectl-style references: kinds and their words, workloads to pods, ambiguity, close matches."""
from pathlib import Path

import pytest

from kplab.errors import KplabError
from kplab.k8s import load_cluster
from kplab.k8s.reference import Reference, close_matches, kind_of, resolve

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def headless():
    return load_cluster(DATA / "headless")


def test_kind_words():
    assert [kind_of(w) for w in ("po", "SVC", "deploy", "sts", "ds", "rs", "no", "widget")] == [
        "pod", "service", "deployment", "statefulset", "daemonset", "replicaset", "node", None]


def test_statefulset_means_its_first_pod(headless):
    sts = [p for p in headless.pods.values() if (p.owner or "").startswith("StatefulSet/")]
    name = sts[0].owner.split("/")[1]
    ref = resolve(headless, f"{sts[0].namespace}/sts/{name}", "source")
    assert ref.kind == "pod" and ref.key == f"{sts[0].namespace}/{name}-0"
    assert ref.note.startswith(f"{sts[0].namespace}/sts/{name} is StatefulSet {sts[0].namespace}/{name}: its pod {name}-0")


def test_spelling_and_bare_names(headless):
    assert Reference("service", "default/web").spelling == "default/svc/web"
    assert Reference("node", "minikube").spelling == "node/minikube"
    assert resolve(headless, "10.0.0.1") is None and resolve(headless, "web.example.com") is None
    node = next(iter(headless.nodes))
    assert resolve(headless, node) == Reference("node", node)
    with pytest.raises(KplabError, match="nodes have no namespace"):
        resolve(headless, f"default/node/{node}")


def test_close_matches_rank_by_name(headless):
    pod = next(p for p in headless.pods.values() if p.namespace == "default")
    assert f"default/pod/{pod.name}" in close_matches(headless, pod.name[:-1])
