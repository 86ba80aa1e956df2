"""NetworkPolicy conformance cases, read in place from ../shared/conformance/networkpolicy/, as Clusters."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kplab.k8s.cluster import Cluster
from kplab.k8s.namespace import Namespace
from kplab.k8s.networkpolicy import NetworkPolicy
from kplab.k8s.node import Node, NodeAddress
from kplab.k8s.pod import ContainerPort, Pod

CASES_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "networkpolicy"
CASE_FILES = sorted(CASES_DIR.glob("*.json")) if CASES_DIR.is_dir() else []
NODES = {"node-1": "172.31.255.1", "node-2": "172.31.255.2"}


def cluster_from_case(case: dict) -> Cluster:
    """Built directly from dataclasses (no YAML); pods alternate between two nodes so walks cross hosts too."""
    nodes = {n: Node(n, addresses=[NodeAddress("InternalIP", ip)]) for n, ip in NODES.items()}
    namespaces = {n: Namespace(n, dict(labels)) for n, labels in case["namespaces"].items()}
    pods = {}
    for i, p in enumerate(case["pods"]):
        pod = Pod(p["namespace"], p["name"], dict(p.get("labels") or {}), node_name=sorted(NODES)[i % 2],
                  ip=p["ip"], ports=[ContainerPort(q["port"], q.get("name", ""), q.get("protocol", "TCP"))
                                     for q in p.get("ports") or []])
        pods[pod.key] = pod
    policies = {}
    for raw in case["policies"]:
        meta = raw["metadata"]
        np = NetworkPolicy(meta.get("namespace", "default"), meta["name"], raw.get("spec") or {})
        policies[np.key] = np
    return Cluster(namespaces=namespaces, nodes=nodes, pods=pods, networkpolicies=policies)


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        if not CASE_FILES:
            metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(
                reason=f"conformance data not found at {CASES_DIR}"))])
            return
        cases = [json.loads(p.read_text()) for p in CASE_FILES]
        metafunc.parametrize("case", cases, ids=[p.stem for p in CASE_FILES])


@pytest.fixture
def case_cluster(case) -> Cluster:
    return cluster_from_case(case)
