"""Scheduling: which node each unplaced Pod runs on. Deterministic, in the spirit of kube-scheduler's spreading.

`spec.nodeName` wins (the scheduler never sees such pods); otherwise the candidates are the Ready nodes whose labels
match `spec.nodeSelector`, and the pod goes to the one running the fewest pods, ties broken by node order. A pod
with no candidate stays Pending with the scheduler's own FailedScheduling wording as a warning.
"""
from __future__ import annotations

from kplab.k8s.labelselector import map_matches
from kplab.k8s.node import Node
from kplab.k8s.pod import Pod


def schedule(pods: list[Pod], nodes: list[Node]) -> list[str]:
    """Set `node_name` on pods that lack one; return warnings for pods left Pending."""
    warnings: list[str] = []
    names = {n.name for n in nodes}
    load = {n.name: 0 for n in nodes}
    for pod in pods:
        if pod.node_name in load:
            load[pod.node_name] += 1
        elif pod.node_name:
            warnings.append(f'pod "{pod.key}": spec.nodeName "{pod.node_name}" is not a node in this cluster; '
                            "the pod stays Pending")
    for pod in pods:
        if pod.node_name:
            continue
        not_ready = [n for n in nodes if not n.ready]
        mismatched = [n for n in nodes if n.ready and not map_matches(pod.node_selector, n.labels)]
        fits = [n for n in nodes if n.ready and map_matches(pod.node_selector, n.labels)]
        if not fits:
            reasons = []
            if mismatched:
                reasons.append(f"{len(mismatched)} node(s) didn't match Pod's node affinity/selector")
            if not_ready:
                reasons.append(f"{len(not_ready)} node(s) had untolerated taint {{node.kubernetes.io/not-ready: }}")
            detail = (", ".join(reasons) + ".") if reasons else "no nodes available to schedule pods."
            warnings.append(f'pod "{pod.key}" stays Pending: 0/{len(names)} nodes are available: {detail}')
            continue
        best = min(fits, key=lambda n: load[n.name])  # min keeps the first of equals: node order breaks ties
        pod.node_name = best.name
        load[best.name] += 1
    return warnings
