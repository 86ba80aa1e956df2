"""The revision counter: every in-place change to a cluster's objects is noticed, reading it costs nothing."""
import copy
import json
from pathlib import Path

import yaml

from kplab.k8s import ServicePort, load_cluster, revision
from kplab.k8s.revision import TrackedDict, TrackedList

DATA = Path(__file__).resolve().parents[2] / "data"


def changes(action) -> int:
    before = revision.current()
    action()
    return revision.current() - before


def test_every_kind_of_edit_bumps():
    c = load_cluster(DATA / "policy")
    svc = next(iter(c.services.values()))
    pod = next(iter(c.pods.values()))
    policy = next(iter(c.networkpolicies.values()))
    edits = [
        lambda: setattr(svc.ports[0], "port", 8081),                    # attribute of a nested object
        lambda: svc.ports.append(ServicePort(9090)),                     # a list field
        lambda: svc.ports.pop(),
        lambda: pod.labels.update({"tier": "x"}),                       # a dict field
        lambda: pod.labels.__setitem__("tier", "y"),
        lambda: policy.spec.setdefault("policyTypes", []).append("Egress"),  # nested inside a raw spec
        lambda: c.services.pop(svc.key),                                 # the cluster's collections
        lambda: c.services.__setitem__(svc.key, svc),
        lambda: setattr(c.settings, "cluster_cidr", "10.0.0.0/8"),
    ]
    for edit in edits:
        assert changes(edit) >= 1
    assert changes(lambda: (svc.ports[0].port, pod.labels.get("tier"), list(c.services))) == 0


def test_tracked_containers_behave_like_plain_ones():
    c = load_cluster(DATA / "article")
    pod = next(iter(c.pods.values()))
    assert isinstance(pod.labels, TrackedDict) and isinstance(pod.ports, TrackedList)
    assert pod.labels == dict(pod.labels) and yaml.safe_load(yaml.safe_dump(pod.labels)) == dict(pod.labels)
    assert json.loads(json.dumps(pod.labels)) == dict(pod.labels)
    clone = copy.deepcopy(pod)
    assert clone == pod and clone is not pod
